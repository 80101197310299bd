"""Readers that wrap another reader (count, verify, re-chunk, map errors): the shared plumbing."""

from __future__ import annotations


class ReaderWrapper:
    """A reader over ``self.f``: closing it closes the inner reader, and it works in ``with``.

    Subclasses override ``read`` (and ``readinto`` where they support it)."""

    def __init__(self, f):
        self.f = f

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n)

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
