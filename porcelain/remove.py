"""mops remove: untrack files, keeping them on disk (the same as ``mops rm --cached``)."""

from __future__ import annotations

import click

from porcelain.rm import run


@click.command("remove")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("paths", nargs=-1, required=True)
def cli(as_json, paths):
    """Untrack PATHS but keep them on disk (mops rm --cached).

    \b
    Example:
      mops remove outputs/
    """
    run(paths, True, as_json, "remove")
