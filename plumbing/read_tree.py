"""mops read-tree: replace the index with the files of a bundle config."""

from __future__ import annotations

import click

from mops.index import STORAGE_EXTERNAL, STORAGE_REGISTRY, Entry, Index


def tree_to_index(tree, old: Index | None = None) -> Index:
    """Index entries for a tree.  Entries whose digest and mode are unchanged keep their stat
    data (so unchanged files are not re-read); the others get none, so ``status`` hashes them."""
    ents = {}
    for p, f in tree.files.items():
        sha = bytes.fromhex(f.digest.split(":", 1)[1])
        mode = 0o100755 if f.mode == "0755" else 0o100644
        storage = STORAGE_EXTERNAL if f.storage == "external" else STORAGE_REGISTRY
        prev = old.entries.get(p) if old is not None else None
        if prev is not None and prev[6] == sha and (prev[0] & 0o111 != 0) == (mode & 0o111 != 0):
            ents[p] = Entry(prev[0], prev[1], prev[2], prev[3], prev[4], prev[5], sha, storage, prev[8])
        else:
            ents[p] = Entry(mode, f.size, 0, 0, 0, 0, sha, storage, 0)
    return Index(ents)


def read_tree(repo, name: str) -> int:
    from mops.revs import resolve_local

    tree = repo.read_tree(resolve_local(repo, name))
    with repo.lock_index() as lock:
        new = tree_to_index(tree, repo.load_index())
        lock.commit(new)
    return len(new)


@click.command("read-tree")
@click.argument("tree")
def cli(tree):
    """Replace the index with the files of TREE (a config digest, manifest digest or ref).

    The worktree is not touched; use checkout-index to write the files.

    \b
    Example:
      mops read-tree origin/latest && mops checkout-index -a
    """
    from mops.ui import open_repo

    read_tree(open_repo(), tree)
