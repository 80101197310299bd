"""mops check-ignore: which of the given paths the ignore rules exclude."""

from __future__ import annotations

import os
import sys

import click


def check_ignore(repo, paths: list[str], no_index: bool = False) -> list[tuple[str, str | None]]:
    """(path as given, deciding pattern) for each ignored path.

    A tracked file is never ignored (it stays tracked), so it is not reported unless
    ``no_index`` asks about the rules alone — git's behaviour.
    """
    out = []
    tracked = () if no_index else repo.load_index().entries
    for p in paths:
        rel = repo.relpath(p)
        if rel in tracked:
            continue
        is_dir = os.path.isdir(repo.abspath(rel)) if rel else True
        # a path is ignored if it or any parent directory is
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            sub_is_dir = is_dir if i == len(parts) else True
            if repo.ignore.match(sub, sub_is_dir):
                out.append((p, repo.ignore.matching_pattern(sub, sub_is_dir)))
                break
    return out


@click.command("check-ignore")
@click.option("-v", "--verbose", "show", is_flag=True, help="Also print the pattern that decided each path.")
@click.option("-z", "nul", is_flag=True, help="NUL-separate the output.")
@click.option("--no-index", "no_index", is_flag=True, help="Consult the rules only: report tracked files too.")
@click.argument("paths", nargs=-1, required=True)
def cli(show, nul, no_index, paths):
    """Print each of PATHS that is ignored; exit 1 when none is.

    Tracked files are not ignored (they stay tracked) unless --no-index is given.

    \b
    Example:
      mops check-ignore -v build/out.bin data/raw.csv
    """
    from mops.ui import open_repo

    hits = check_ignore(open_repo(), list(paths), no_index=no_index)
    end = "\0" if nul else "\n"
    for p, pat in hits:
        sys.stdout.write((f"{pat or ''}\t{p}" if show else p) + end)
    sys.exit(0 if hits else 1)
