"""mops diff: what differs between worktree, index, the sync base and bundles — by name and size.

Bundles are compared through their config blobs: no file content is downloaded or read.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click


@dataclass
class Change:
    status: str  # A, M, D
    path: str
    old_size: int | None
    new_size: int | None


def _tree_map(tree) -> dict[str, tuple[str, str, int]]:
    return {p: (f.digest, f.mode, f.size) for p, f in tree.files.items()} if tree else {}


def _index_map(index) -> dict[str, tuple[str, str, int]]:
    return {p: ("sha256:" + e[6].hex(), "0755" if e[0] & 0o111 else "0644", e[1]) for p, e in index.entries.items()}


def _worktree_map(repo, index) -> dict[str, tuple[str, str, int]]:
    from mops import digest as dg
    from mops.scan import worktree_changes

    m = _index_map(index)
    ch = worktree_changes(repo, index, untracked=False)
    for p in ch.deleted:
        m.pop(p, None)
    for p in ch.modified:
        full = repo.abspath(p)
        d = ch.new_digests.get(p) or dg.of_file(full)[0]
        st = os.stat(full)
        m[p] = (d, "0755" if st.st_mode & 0o111 else "0644", st.st_size)
    return m


def compare(old: dict, new: dict) -> list[Change]:
    out = []
    for p in sorted(old.keys() | new.keys()):
        a, b = old.get(p), new.get(p)
        if a is None:
            out.append(Change("A", p, None, b[2]))
        elif b is None:
            out.append(Change("D", p, a[2], None))
        elif a[:2] != b[:2]:
            out.append(Change("M", p, a[2], b[2]))
    return out


def resolve_tree(repo, ref: str):
    """A bundle's tree from a local name, else (when the registry feature is present) a remote ref."""
    from mops.errors import NotFound
    from mops.revs import resolve_local

    try:
        return repo.read_tree(resolve_local(repo, ref))
    except NotFound:
        try:
            from mops.sync import remote_tree
        except ImportError:
            raise
        return remote_tree(repo, ref)


def diff(repo, refs: list[str], staged: bool = False) -> list[Change]:
    if len(refs) > 2:
        from mops.errors import UsageError

        raise UsageError("diff takes at most two references")
    if len(refs) == 2:
        return compare(_tree_map(resolve_tree(repo, refs[0])), _tree_map(resolve_tree(repo, refs[1])))
    index = repo.load_index()
    if len(refs) == 1:
        old = _tree_map(resolve_tree(repo, refs[0]))
        return compare(old, _index_map(index) if staged else _worktree_map(repo, index))
    if staged:
        return compare(_tree_map(repo.base_tree()), _index_map(index))
    return compare(_index_map(index), _worktree_map(repo, index))


def _fmt_size(n: int | None) -> str:
    from mops.ui import human_size

    return "-" if n is None else human_size(n)


@click.command("diff")
@click.option("--staged", "--cached", "staged", is_flag=True, help="Compare the index (not the worktree) with the base or REF.")
@click.option("--name-status", "name_status", is_flag=True, help="One 'STATUS<TAB>PATH' line per change (the default).")
@click.option("--stat", "stat", is_flag=True, help="Show each changed file with its old and new size, and a total.")
@click.option("--exit-code", "exit_code", is_flag=True, help="Exit 1 when there are differences, 0 when there are none.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("refs", nargs=-1)
def cli(staged, name_status, stat, exit_code, as_json, refs):
    """Show changed files between worktree, index, the last synced bundle and bundles.

    \b
    mops diff               worktree vs index
    mops diff --staged      index vs the last pushed or pulled bundle
    mops diff REF           worktree (index with --staged) vs bundle REF
    mops diff REF1 REF2     bundle vs bundle

    \b
    Example:
      mops diff --staged --stat
      mops diff v1 v2 --exit-code || echo changed
    """
    from mops.ui import emit_json, human_size, open_repo

    changes = diff(open_repo(), list(refs), staged=staged)
    if as_json:
        emit_json("diff", {"changes": [{"status": c.status, "path": c.path, "old_size": c.old_size, "new_size": c.new_size} for c in changes]})
    elif stat:
        width = max((len(c.path) for c in changes), default=0)
        for c in changes:
            sys.stdout.write(f" {c.path:<{width}} | {c.status} {_fmt_size(c.old_size)} -> {_fmt_size(c.new_size)}\n")
        delta = sum((c.new_size or 0) - (c.old_size or 0) for c in changes)
        sign = "+" if delta >= 0 else "-"
        sys.stdout.write(f" {len(changes)} file(s) changed, {sign}{human_size(abs(delta))}\n")
    else:
        for c in changes:
            sys.stdout.write(f"{c.status}\t{c.path}\n")
    if exit_code and changes:
        sys.exit(1)
