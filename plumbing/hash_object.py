"""mops hash-object: the object id (sha256) of files or stdin; ``-w`` also stores them."""

from __future__ import annotations

import sys

import click

from mops import digest as dg


def hash_object(paths: list[str], write: bool = False, stdin: bool = False, repo=None) -> list[str]:
    out = []
    if stdin:
        data = sys.stdin.buffer.read()
        out.append(repo.objects.put_bytes(data) if write else dg.of_bytes(data))
    for p in paths:
        try:
            if write:
                out.append(repo.objects.put_file(p)[0])
            else:
                out.append(dg.of_file(p)[0])
        except FileNotFoundError:
            from mops.errors import NotFound

            raise NotFound(f"{p}: no such file") from None
        except IsADirectoryError:
            from mops.errors import UsageError

            raise UsageError(f"{p}: is a directory (hash-object takes files)") from None
    return out


@click.command("hash-object")
@click.option("-w", "write", is_flag=True, help="Also write the object into the object store.")
@click.option("--stdin", "stdin", is_flag=True, help="Read the object from standard input.")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=True))
def cli(write, stdin, files):
    """Print the object id (sha256:<hex>) of each FILE, one per line.

    The id equals `sha256sum` of the bytes.  With -w the object is stored in
    .modelops-bundle/objects (this needs a project).

    \b
    Example:
      mops hash-object -w data/params.csv
      echo hello | mops hash-object --stdin
    """
    if not files and not stdin:
        raise click.UsageError("give FILE arguments or --stdin")
    repo = None
    if write:
        from mops.ui import open_repo

        repo = open_repo()
    for d in hash_object(list(files), write=write, stdin=stdin, repo=repo):
        click.echo(d)
