"""Worktree ↔ index: hashing files into the store and computing what changed.

The stat cache is what makes this fast: a file whose stat data matches its index entry (and which
is not racy) is never read.
"""

from __future__ import annotations

import os
import stat as statmod
from dataclasses import dataclass, field

from . import digest as dg
from .errors import ConflictError, IntegrityError
from .index import FLAG_POINTER, FLAG_WORKTREE, STORAGE_AUTO, Entry, Index, entry_from_stat, stat_matches
from .streams import ReaderWrapper


def stage_file(repo, rel: str, st: os.stat_result | None = None, big_threshold: int | None = None) -> Entry:
    """Hash one worktree file into the object store and return its index entry.

    Files at or above ``core.big_file_threshold`` are not copied: the store gets a reflink clone
    where the filesystem can make one, else only the digest and stat data are recorded and the
    content is read back from the worktree (and re-verified) when it is needed.
    """
    full = repo.fspath(rel)
    if st is None:
        st = os.stat(full)
    if big_threshold is None:
        big_threshold = repo.config.get("core.big_file_threshold")
    if st.st_size >= big_threshold:
        digest, size = dg.of_file(full)
        flags = 0 if repo.objects.put_reflink(full, digest) else FLAG_WORKTREE
    else:
        digest, size = repo.objects.put_file(full)
        flags = 0
    st2 = os.stat(full)
    if st2.st_size != size or st2.st_mtime_ns != st.st_mtime_ns:
        raise ConflictError(f"{rel}: changed while it was being staged", hint=f"run mops add {rel} again")
    return entry_from_stat(st2, digest, STORAGE_AUTO, flags)


def hash_worktree_file(repo, rel: str) -> str:
    return dg.of_file(repo.fspath(rel))[0]


def open_staged(repo, rel: str, entry: Entry):
    """A reader for a staged file's content: from the store, else from the worktree, verified.

    A worktree-backed (big) file is streamed through a verifying reader: if its bytes no longer
    hash to the staged digest, reading fails with exit 12 before anything is published.
    """
    digest = entry.digest
    if repo.objects.has(digest):
        return repo.objects.open(digest)
    return VerifyingReader(open(repo.abspath(rel), "rb"), digest, entry.size, rel)


class VerifyingReader(ReaderWrapper):
    """Wraps a file; raises ConflictError at EOF when the bytes read do not match the digest."""

    def __init__(self, f, digest: str, size: int, rel: str):
        import hashlib

        super().__init__(f)
        self.digest, self.size, self.rel = digest, size, rel
        self.h = hashlib.sha256()
        self.n = 0

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        self.h.update(b)
        self.n += len(b)
        if not b or (n < 0):
            self._check()
        elif self.n > self.size:
            self._fail()
        return b

    def readinto(self, buf) -> int:
        got = self.f.readinto(buf)
        if got:
            self.h.update(memoryview(buf)[:got])
            self.n += got
            if self.n > self.size:
                self._fail()
        else:
            self._check()
        return got

    def _check(self) -> None:
        if self.n != self.size or "sha256:" + self.h.hexdigest() != self.digest:
            self._fail()

    def _fail(self) -> None:
        raise ConflictError(f"{self.rel}: modified since it was staged; run mops add {self.rel}")


# -- status --------------------------------------------------------------------------------
@dataclass
class WorktreeChanges:
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    refreshed: dict[str, Entry] = field(default_factory=dict)  # same content, new stat data
    new_digests: dict[str, str] = field(default_factory=dict)  # modified path → worktree digest
    lazy: list[str] = field(default_factory=list)  # pointer files standing for their staged content

    def sort(self) -> None:
        for lst in (self.modified, self.deleted, self.untracked, self.ignored, self.lazy):
            lst.sort()


def _is_regular(st: os.stat_result) -> bool:
    return statmod.S_ISREG(st.st_mode)


def check_changed(repo, ch: WorktreeChanges, rel: str, e: tuple, st: os.stat_result, idx_mtime: int) -> None:
    """Classify one tracked file whose stat data is at hand: clean, refreshed, lazy or modified.

    Content is read only when the stat data differs from the entry (or the entry is racy) and
    the size alone does not already prove a change.
    """
    if stat_matches(e, st) and not (idx_mtime == 0 or e[2] >= idx_mtime):
        return
    if e[8] & FLAG_POINTER:
        from .pointer import points_to

        if points_to(repo.fspath(rel), "sha256:" + e[6].hex(), st):
            ch.lazy.append(rel)  # a lazy pointer, not a modification
            return
    # stat changed or racy: the content decides
    if st.st_size != e[1]:
        ch.modified.append(rel)
        return
    try:
        digest = hash_worktree_file(repo, rel)
    except OSError:
        ch.deleted.append(rel)
        return
    if digest != "sha256:" + e[6].hex():
        ch.modified.append(rel)
        ch.new_digests[rel] = digest
    elif (e[0] & 0o111 != 0) != (st.st_mode & 0o111 != 0):
        ch.modified.append(rel)
    else:
        ch.refreshed[rel] = entry_from_stat(st, digest, e[7], e[8])


def check_path(repo, ch: WorktreeChanges, rel: str, e: tuple, idx_mtime: int) -> None:
    """Like :func:`check_changed` for a tracked file whose stat data must be read first."""
    try:
        st = os.lstat(repo.fspath(rel))
    except OSError:
        ch.deleted.append(rel)
        return
    if not _is_regular(st):
        ch.deleted.append(rel)
        return
    check_changed(repo, ch, rel, e, st, idx_mtime)


def worktree_changes(repo, index: Index, untracked: bool = True, ignored: bool = False, under: str = "") -> WorktreeChanges:
    """Compare the worktree with the index without reading unchanged files."""
    from .ignore import walk

    ch = WorktreeChanges()
    ents = index.entries
    seen: set[str] = set()
    idx_mtime = index.mtime_ns

    # the hot loop: stat_matches and the racy rule inlined, no call per unchanged file
    for rel, de, ign in walk(repo.root, repo.ignore, under, with_ignored=ignored, tracked=ents):
        e = ents.get(rel)
        if e is None:
            if ign:
                ch.ignored.append(rel)
            elif untracked:
                ch.untracked.append(rel)
            continue
        seen.add(rel)
        try:
            st = de.stat(follow_symlinks=False)
        except OSError:
            continue
        if (
            e[2] == st.st_mtime_ns
            and e[1] == st.st_size
            and e[3] == st.st_ctime_ns
            and e[4] == st.st_ino
            and (e[0] & 0o111 != 0) == (st.st_mode & 0o111 != 0)
            and idx_mtime != 0
            and e[2] < idx_mtime
        ):
            continue
        check_changed(repo, ch, rel, e, st, idx_mtime)

    # tracked files the walk did not reach: deleted, or inside an ignored directory
    prefix = under + "/" if under else ""
    unseen = ents.keys() - seen if len(seen) < len(ents) else ()
    for rel in sorted(unseen):
        if prefix and not rel.startswith(prefix):
            continue
        check_path(repo, ch, rel, ents[rel], idx_mtime)

    ch.sort()
    return ch


def tree_changes(old: dict[str, tuple[str, str]], new: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """Name-status between two {path: (digest, mode)} maps: [(A|M|D, path)] sorted by path."""
    if old == new:  # the usual case after a push or pull, compared in C
        return []
    # only the paths whose (path, value) pair is on one side alone, found by set operations in C
    changed = {p for p, _ in old.items() ^ new.items()}
    return [("A" if p not in old else "D" if p not in new else "M", p) for p in sorted(changed)]


def check_entry_content(repo, rel: str, entry: Entry) -> None:
    """Raise IntegrityError when a staged object is missing from the store and the worktree."""
    if repo.objects.has(entry.digest):
        return
    if entry.flags & FLAG_WORKTREE and os.path.exists(repo.abspath(rel)):
        return
    raise IntegrityError(f"{rel}: staged content {entry.digest} is missing", hint=f"run mops add {rel}")
