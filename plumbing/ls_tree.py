"""mops ls-tree: the files of a bundle config (or of the manifest or ref naming one)."""

from __future__ import annotations

import sys

import click


def ls_tree(repo, name: str):
    from mops.revs import resolve_local

    return repo.read_tree(resolve_local(repo, name))


@click.command("ls-tree")
@click.option("-z", "nul", is_flag=True, help="End each line with NUL.")
@click.option("--name-only", is_flag=True, help="Print only the paths.")
@click.argument("tree")
def cli(nul, name_only, tree):
    """List the files of TREE: mode, storage, digest, size, TAB, path.

    TREE is a config digest, a manifest digest or a ref.

    \b
    Example:
      mops ls-tree $(mops write-tree)
      mops ls-tree origin/latest --name-only
    """
    from mops.ui import open_repo

    t = ls_tree(open_repo(), tree)
    end = "\0" if nul else "\n"
    for p in sorted(t.files):
        f = t.files[p]
        sys.stdout.write((p if name_only else f"{f.mode} {f.storage} {f.digest} {f.size}\t{p}") + end)
