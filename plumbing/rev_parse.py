"""mops rev-parse: the digest a name stands for."""

from __future__ import annotations

import click


def rev_parse(repo, name: str) -> str:
    from mops.revs import resolve_local

    return resolve_local(repo, name)


@click.command("rev-parse")
@click.argument("names", nargs=-1, required=True)
def cli(names):
    """Print the digest each of NAMES stands for (a digest, HEAD, a tag or a remote-tracking ref).

    \b
    Example:
      mops rev-parse origin/latest
      mops rev-parse HEAD
    """
    from mops.ui import open_repo

    repo = open_repo()
    for n in names:
        click.echo(rev_parse(repo, n))
