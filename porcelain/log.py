"""mops log: the reflog of pushes, pulls and fetches."""

from __future__ import annotations

import time

import click


@click.command("log")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), metavar="N", help="Show only the last N entries.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cli(limit, as_json):
    """Show pushes, pulls and fetches, newest first.

    \b
    Example:
      mops log -n 5
    """
    from mops.ui import emit_json, open_repo

    entries = list(reversed(open_repo().refs.read_log()))
    if limit is not None:
        entries = entries[:limit]
    if as_json:
        emit_json("log", {"entries": entries})
        return
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"]))
        click.echo(f"{e['new'][:19]} {when} {e['action']:<5} {e['ref'].removeprefix('refs/remotes/')}  {e['message']}")
