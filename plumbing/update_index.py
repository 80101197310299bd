"""mops update-index: register worktree files in the index (the primitive under ``mops add``)."""

from __future__ import annotations

import os
import stat as statmod
import sys
from dataclasses import dataclass, field

import click

from mops.errors import NotFound, UsageError
from mops.index import FLAG_POINTER, Index, stat_matches


@dataclass
class IndexUpdate:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    bytes_hashed: int = 0
    needs_update: list[str] = field(default_factory=list)  # --refresh: tracked files that differ


def stage_paths(repo, index: Index, rels: list[str], progress=None, result: IndexUpdate | None = None) -> IndexUpdate:
    """Hash each project-relative file into the store and record it in ``index``.

    A file whose stat data matches its entry (and is not racy) is not read again.
    """
    from mops.worktree import stage_file

    res = result or IndexUpdate()
    _check_utf8(rels)
    big = repo.config.get("core.big_file_threshold")
    ents = index.entries
    from mops.bundle import _CTRL_RE

    for rel in rels:  # checked before anything is staged: one bad name stages nothing
        if _CTRL_RE.search(rel):
            raise UsageError(f"{rel!r}: a path with a control character cannot go in a bundle",
                             hint="rename the file, or list it in .modelopsignore")
    with repo.objects.batch():  # one filesystem sync for the lot, not one fsync per file
        for rel in rels:
            full = repo.fspath(rel)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                raise NotFound(f"{rel}: no such file") from None
            if statmod.S_ISLNK(st.st_mode):
                raise UsageError(f"{rel}: is a symbolic link; a bundle holds regular files only")
            if not statmod.S_ISREG(st.st_mode):
                raise UsageError(f"{rel}: not a regular file")
            old = ents.get(rel)
            if old is not None and old[8] & FLAG_POINTER and _still_pointer(full, old, st):
                res.unchanged += 1  # a lazy pointer stands for the staged content: never stage the pointer
                continue
            if old is not None and stat_matches(old, st) and not index.is_racy(old):
                res.unchanged += 1
                if progress:
                    progress.advance(st.st_size)
                continue
            e = stage_file(repo, rel, st, big)
            res.bytes_hashed += st.st_size
            if progress:
                progress.advance(st.st_size)
            if old is None:
                res.added.append(rel)
            elif old[6] != e.sha or (old[0] & 0o111) != (e.mode & 0o111):
                res.updated.append(rel)
            ents[rel] = e
    return res


def _check_utf8(rels: list[str]) -> None:
    """Bundle paths are UTF-8 (they go into JSON): refuse a file name that is not, before any work.
    One encode of all names at once; only on failure is the culprit looked for."""
    try:
        "\0".join(rels).encode("utf-8")
    except UnicodeEncodeError:
        for rel in rels:
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                raise UsageError(f"{shown}: file name is not valid UTF-8; a bundle holds UTF-8 paths only",
                                 hint="rename the file, or add it to .modelopsignore") from None


def _still_pointer(full: str, old: tuple, st) -> bool:
    from mops.pointer import points_to

    return points_to(full, "sha256:" + old[6].hex(), st)


def update_index(repo, paths: list[str], add: bool = False, remove: bool = False, refresh: bool = False) -> IndexUpdate:
    rels = [repo.relpath(p) for p in paths]
    with repo.lock_index() as lock:
        index = repo.load_index()
        res = IndexUpdate()
        to_stage = []
        for rel in rels:
            exists = os.path.lexists(repo.abspath(rel))
            if not exists:
                if remove and rel in index.entries:
                    del index.entries[rel]
                    res.removed.append(rel)
                    continue
                if rel in index.entries:
                    raise NotFound(f"{rel}: does not exist and --remove was not given")
                raise NotFound(f"{rel}: no such file")
            if rel not in index.entries and not add:
                raise UsageError(f"{rel}: cannot add to the index, missing --add option?")
            to_stage.append(rel)
        stage_paths(repo, index, to_stage, result=res)
        if refresh:
            from mops.worktree import worktree_changes

            ch = worktree_changes(repo, index, untracked=False)
            index.entries.update(ch.refreshed)
            for rel in ch.modified + ch.deleted:
                sys.stdout.write(f"{rel}: needs update\n")
            res.needs_update = sorted(ch.modified + ch.deleted)
        lock.commit(index)
    return res


@click.command("update-index")
@click.option("--add", is_flag=True, help="Add files that are not yet in the index.")
@click.option("--remove", is_flag=True, help="Remove named files that no longer exist from the index.")
@click.option("--refresh", is_flag=True, help="Refresh the stat data of unchanged entries; list the rest as 'needs update'.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read paths from standard input, one per line.")
@click.option("-z", "nul", is_flag=True, help="With --stdin, paths are NUL-separated.")
@click.argument("paths", nargs=-1)
def cli(add, remove, refresh, from_stdin, nul, paths):
    """Register the content of PATHS in the index.

    \b
    Example:
      mops update-index --add models/sir.py
      find data -name '*.csv' -print0 | mops update-index --add --stdin -z
    """
    from mops.ui import open_repo

    repo = open_repo()
    paths = list(paths)
    if from_stdin:
        data = sys.stdin.read()
        paths += [p for p in (data.split("\0") if nul else data.splitlines()) if p]
    if not paths and not refresh:
        raise click.UsageError("give PATHS, --stdin or --refresh")
    res = update_index(repo, paths, add=add, remove=remove, refresh=refresh)
    if res.needs_update:
        sys.exit(1)  # as git update-index --refresh: some entries need updating
