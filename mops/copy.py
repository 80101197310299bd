"""The one copy algorithm: move a bundle's blobs from a source to any Target, skipping what it has.

push = project → remote, fetch = remote → object store, materialize = remote → cache.  Existence
checks and transfers run in a bounded thread pool; the first failure cancels what has not started
and is re-raised unchanged (so a ConflictError from a changed worktree file keeps its exit code).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import BinaryIO

from .bundle import EMPTY_BYTES, EMPTY_DIGEST, Descriptor
from .errors import NotFound
from .streams import ReaderWrapper

Opener = Callable[[Descriptor], BinaryIO]


@dataclass
class CopyStats:
    blobs: int = 0
    copied: list[Descriptor] = field(default_factory=list)
    bytes_copied: int = 0
    checked: int = 0  # existence checks sent to the destination
    mounted: list[Descriptor] = field(default_factory=list)  # linked from another repository
    external_uploaded: int = 0  # objects sent to the external store (push)


def _unique(descs: Iterable[Descriptor]) -> list[Descriptor]:
    seen: dict[str, Descriptor] = {}
    for d in descs:
        seen.setdefault(d.digest, d)
    return list(seen.values())


def run_bounded(fn, items, concurrency: int = 4) -> list:
    """``[fn(x) for x in items]`` on at most ``concurrency`` threads, results in order.  The first
    failure cancels what has not started and is re-raised unchanged (so its exit code survives)."""
    items = list(items)
    if not items:
        return []
    if concurrency <= 1 or len(items) == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        futs = [pool.submit(fn, x) for x in items]
        done, pending = wait(futs, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        for f in futs:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()
        return [f.result() for f in futs]


def missing_blobs(dst, descs: Iterable[Descriptor], known: set[str] | None = None, concurrency: int = 4,
                  stats: CopyStats | None = None) -> list[Descriptor]:
    """The blobs ``dst`` lacks.  Digests in ``known`` are trusted to be there (no request)."""
    known = known or set()
    todo = [d for d in _unique(descs) if d.digest not in known]
    if stats is not None:
        stats.checked += len(todo)
    sizes = run_bounded(lambda d: dst.blob_size(d.digest), todo, concurrency)
    return [d for d, s in zip(todo, sizes, strict=True) if s is None]


def copy_blobs(open_source: Opener, dst, descs: Iterable[Descriptor], known: set[str] | None = None,
               concurrency: int = 4, progress=None, stats: CopyStats | None = None,
               mount_from: dict[str, str] | None = None) -> CopyStats:
    """Copy the blobs ``dst`` lacks.  ``mount_from`` maps digests to another repository of the same
    registry known to hold them: those are linked by a cross-repository mount, not uploaded."""
    stats = stats or CopyStats()
    uniq = _unique(descs)
    stats.blobs += len(uniq)
    todo = missing_blobs(dst, uniq, known, concurrency, stats)
    if mount_from and hasattr(dst, "mount_blob"):
        mounted = set()
        for d in todo:
            src_repo = mount_from.get(d.digest)
            if src_repo and dst.mount_blob(d.digest, src_repo):
                mounted.add(d.digest)
                stats.mounted.append(d)
        todo = [d for d in todo if d.digest not in mounted]

    def one(d: Descriptor) -> None:
        def opener() -> BinaryIO:
            src = open_source(d)
            return _Counting(src, progress) if progress is not None else src

        dst.push_blob(d.digest, d.size, opener)

    run_bounded(one, todo, concurrency)
    stats.copied += todo
    stats.bytes_copied += sum(d.size for d in todo)
    return stats


class _Counting(ReaderWrapper):
    """Reports bytes read to a progress bar."""

    def __init__(self, f, progress):
        super().__init__(f)
        self.progress = progress

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        self.progress.advance(len(b))
        return b

    def readinto(self, buf) -> int:
        n = self.f.readinto(buf)
        self.progress.advance(n or 0)
        return n

    def __getattr__(self, name):
        return getattr(self.f, name)


def empty_blob_reader() -> BinaryIO:
    return io.BytesIO(EMPTY_BYTES)


def target_opener(src) -> Opener:
    def open_(d: Descriptor) -> BinaryIO:
        if d.digest == EMPTY_DIGEST and src.blob_size(d.digest) is None:
            return empty_blob_reader()
        return src.fetch_blob(d.digest, d.size)

    return open_


class LocalTarget:
    """The project's object store seen as a Target (the destination of fetch)."""

    def __init__(self, store, name: str = "object store"):
        self.store = store
        self.name = name

    def blob_size(self, digest: str) -> int | None:
        return self.store.size(digest) if self.store.has(digest) else None

    def fetch_blob(self, digest: str, size: int | None = None) -> BinaryIO:
        return self.store.open(digest)

    def push_blob(self, digest: str, size: int, opener) -> None:
        if self.store.has(digest):
            return
        with opener() as f:
            self.store.put_stream(f, expected=digest, expected_size=size)

    def resolve(self, ref: str) -> tuple[str, bytes]:
        from . import digest as dg

        if not dg.is_digest(ref) or not self.store.has(ref):
            raise NotFound(f"{ref} is not in the object store")
        return ref, self.store.read(ref)

    def put_manifest(self, data: bytes, digest: str, tag: str | None = None) -> None:
        self.store.put_bytes(data)

    def tags(self) -> list[str]:
        return []
