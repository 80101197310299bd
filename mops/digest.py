"""sha256 identities (SPEC §3): ``sha256:<64 lowercase hex>`` of an object's bytes."""

from __future__ import annotations

import hashlib
import os
import re
from typing import BinaryIO

from .errors import UsageError

CHUNK = 1 << 20  # read and hash in 1 MiB chunks: big enough to amortise syscalls, small in RAM
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


def is_digest(text: str) -> bool:
    return bool(_DIGEST_RE.match(text))


def parse_digest(text: str) -> str:
    """Normalise ``sha256:<hex>`` or a bare 64-hex string to ``sha256:<hex>``."""
    text = text.strip()
    if _DIGEST_RE.match(text):
        return text
    if _HEX_RE.match(text):
        return "sha256:" + text
    raise UsageError(f"malformed digest {text!r}: expected sha256:<64 lowercase hex>")


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[1]


def of_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def of_stream(stream: BinaryIO) -> tuple[str, int]:
    """Digest and length of everything left in ``stream``."""
    h = hashlib.sha256()
    n = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        got = stream.readinto(buf)
        if not got:
            break
        h.update(view[:got])
        n += got
    return "sha256:" + h.hexdigest(), n


def of_file(path: str | os.PathLike) -> tuple[str, int]:
    """Digest and size of a file, streamed; memory stays at one chunk whatever the size."""
    with open(path, "rb", buffering=0) as f:
        try:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except (AttributeError, OSError):
            pass
        return of_stream(f)
