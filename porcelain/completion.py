"""mops completion: the shell completion script for bash, zsh or fish."""

from __future__ import annotations

import click


def completion_script(shell: str) -> str:
    from click.shell_completion import get_completion_class

    from mops.cli import _build_root

    cls = get_completion_class(shell)
    return cls(_build_root(), {}, "mops", "_MOPS_COMPLETE").source()


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def cli(shell):
    """Print the completion script for SHELL.

    \b
    Example:
      eval "$(mops completion bash)"
      mops completion fish > ~/.config/fish/completions/mops.fish
    """
    click.echo(completion_script(shell))
