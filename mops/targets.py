"""One storage protocol, three stores (oras-go's ``content.Storage`` + tag resolution).

The project's object store, an ``oci:`` image-layout directory and a registry over HTTP all
implement ``Target``.  ``mops.copy.copy_bundle`` walks a bundle (manifest → config → layers)
from any target to any other, skipping blobs the destination already has: push, fetch and
pull are that one copy in different directions.

Contract every implementation keeps:
- ``blob_size`` answers existence cheaply (HEAD / stat) and never downloads.
- ``fetch_blob`` returns a streaming reader; the *caller* hashes and verifies what it reads.
- ``push_blob`` pulls bytes from ``opener()`` in chunks and never holds a whole blob in memory;
  an exception raised while reading the source (for example ``ConflictError`` from a worktree
  file that changed since it was staged) propagates unchanged and nothing is committed.
- Methods may be called from several threads at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, Protocol


class Target(Protocol):
    #: how messages name this target, e.g. ``localhost:5000/team/model`` or ``oci:./bundles``
    name: str

    def blob_size(self, digest: str) -> int | None:
        """Size of the blob if the target has it, else None."""

    def fetch_blob(self, digest: str, size: int | None = None) -> BinaryIO:
        """A reader of the blob's bytes (raise NotFound when missing)."""

    def push_blob(self, digest: str, size: int, opener: Callable[[], BinaryIO]) -> None:
        """Store the blob; ``opener`` gives a fresh reader of its bytes (callable more than once for retries)."""

    def resolve(self, ref: str) -> tuple[str, bytes]:
        """A tag or ``sha256:`` digest → (manifest digest, exact manifest bytes).  NotFound if absent."""

    def put_manifest(self, data: bytes, digest: str, tag: str | None = None) -> None:
        """Store a manifest under its digest and, with ``tag``, point the tag at it."""

    def tags(self) -> list[str]:
        """Every tag, sorted."""


class MountableTarget(Target, Protocol):
    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Ask the registry to link a blob from another repository of the same registry."""


ReaderFactory = Callable[[], BinaryIO]
