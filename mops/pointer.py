"""Lazy pointer files: what ``pull --lazy`` / ``materialize --lazy`` write in place of an external file.

A pointer is one line of JSON and a newline (docs/FORMAT.md, "Pointer files")::

    {"mops-pointer":1,"digest":"sha256:<hex>","size":123,"uri":"s3://bucket/prefix/sha256/ab/cd/<hex>","path":"models/w.bin"}

Writers emit exactly this key order, compact separators and raw UTF-8, so a pointer always starts
with the 17 bytes ``{"mops-pointer":1`` and ``is_pointer`` can reject any other file after reading
a few bytes.  Readers parse the JSON and accept any key order and unknown extra keys (a later
version may add some; it bumps ``mops-pointer`` only if old readers would misread it).

A pointer can never be mistaken for the content it stands for: it would have to contain its own
sha256.  ``status`` therefore treats a file that is a pointer to the staged digest as "lazy", not
modified (``points_to``).
"""

from __future__ import annotations

import json
import os
import stat as statmod
from dataclasses import dataclass
from pathlib import Path

from .digest import is_digest
from .errors import UsageError

MARKER = "mops-pointer"
VERSION = 1
PREFIX = b'{"mops-pointer":1'
MAX_SIZE = 64 * 1024  # a pointer is small; anything larger is content, whatever it starts with


@dataclass(frozen=True)
class Pointer:
    digest: str
    size: int
    uri: str
    path: str

    def to_bytes(self) -> bytes:
        doc = {MARKER: VERSION, "digest": self.digest, "size": self.size, "uri": self.uri, "path": self.path}
        return (json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "pointer") -> Pointer:
        """Parse a pointer; UsageError (exit 2) naming ``where`` when ``data`` is not a valid one."""
        if len(data) > MAX_SIZE or not data.lstrip().startswith(b"{"):
            raise UsageError(f"{where} is not a mops pointer file")
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise UsageError(f"{where} is not a mops pointer file (not JSON)") from None
        if not isinstance(doc, dict) or doc.get(MARKER) != VERSION or isinstance(doc.get(MARKER), bool):
            raise UsageError(f"{where} is not a mops pointer file (no {MARKER!r}: {VERSION} marker)")
        digest, size, uri, path = doc.get("digest"), doc.get("size"), doc.get("uri"), doc.get("path")
        if not (isinstance(digest, str) and is_digest(digest)):
            raise UsageError(f"malformed pointer {where}: bad digest")
        if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            raise UsageError(f"malformed pointer {where}: bad size")
        if not (isinstance(uri, str) and uri) or not (isinstance(path, str) and path):
            raise UsageError(f"malformed pointer {where}: uri and path must be non-empty strings")
        return cls(digest, size, uri, path)


def read(path: str | os.PathLike) -> Pointer:
    """The pointer at ``path`` (UsageError when it is not one; OSError when unreadable)."""
    p = Path(path)
    with open(p, "rb") as f:
        data = f.read(MAX_SIZE + 1)
    return Pointer.from_bytes(data, str(p))


def write(path: str | os.PathLike, pointer: Pointer, mode: int = 0o644) -> os.stat_result:
    """Write ``pointer`` at ``path`` atomically (temp file, fsync, rename); return its stat data."""
    from .fsutil import atomic_write_bytes

    atomic_write_bytes(path, pointer.to_bytes(), mode=mode)
    return os.stat(path)


def is_pointer(path: str | os.PathLike, st: os.stat_result | None = None) -> bool:
    """True when ``path`` is a regular file holding a valid pointer.  Cheap for ordinary files:
    the size (from ``st`` when given) and the first bytes rule out almost everything."""
    return load_if_pointer(path, st) is not None


def load_if_pointer(path: str | os.PathLike, st: os.stat_result | None = None) -> Pointer | None:
    try:
        if st is None:
            st = os.lstat(path)
        if not statmod.S_ISREG(st.st_mode) or st.st_size > MAX_SIZE or st.st_size < len(PREFIX):
            return None
        with open(path, "rb") as f:
            if f.read(len(PREFIX)) != PREFIX:
                return None
            data = PREFIX + f.read(MAX_SIZE)
    except OSError:
        return None
    try:
        return Pointer.from_bytes(data, os.fspath(path))
    except UsageError:
        return None


def points_to(path: str | os.PathLike, digest: str, st: os.stat_result | None = None) -> bool:
    """True when ``path`` is a pointer standing for content ``digest`` (a lazy file, not a modified one)."""
    p = load_if_pointer(path, st)
    return p is not None and p.digest == digest
