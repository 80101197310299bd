"""mops show-ref: every ref and the digest it holds."""

from __future__ import annotations

import sys

import click


def show_ref(repo) -> list[tuple[str, str]]:
    return repo.refs.all()


@click.command("show-ref")
def cli():
    """List refs as 'DIGEST REFNAME' lines; exit 1 when there are none.

    \b
    Example:
      mops show-ref | grep refs/tags/
    """
    from mops.ui import open_repo

    refs = show_ref(open_repo())
    for name, d in refs:
        click.echo(f"{d} {name}")
    sys.exit(0 if refs else 1)
