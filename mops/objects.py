"""The content-addressed object store: ``.modelops-bundle/objects/sha256/<hex[:2]>/<hex>``.

An object's id is always the sha256 of its raw bytes.  On disk an object is either those raw bytes
or, for small objects that compress well, one zstd frame.  The two are told apart by the zstd magic
number; raw content that itself begins with that magic is always stored compressed, so reading is
never ambiguous (docs/FORMAT.md).  Raw storage keeps large objects reflink- and hardlink-friendly.

Writes are atomic (temp file in the store, fsync, rename) and idempotent: writing an object that is
already present costs one ``stat``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from . import digest as dg
from .errors import IntegrityError, NotFound
from .fsutil import SYNCFS_MIN_FILES, _unlink_quiet, fsync_dir, sync_files, syncfs, try_reflink

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESS_MAX = 1 << 20  # only objects below 1 MiB are considered for compression
ZSTD_LEVEL = 3

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


class ObjectStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.tmpdir = self.root / "tmp"
        self._base = os.fspath(self.root) + "/sha256/"  # string paths: pathlib costs µs per object
        self._tmp_prefix = f"{os.fspath(self.tmpdir)}/obj.{os.getpid()}."
        self._tmp_count = itertools.count()
        self._pending: dict[str, str] | None = None  # digest → temp file, inside batch()

    # -- naming --------------------------------------------------------------------------
    def _str_path(self, digest: str) -> str:
        hexd = digest[7:] if digest.startswith("sha256:") else dg.hex_of(digest)
        return f"{self._base}{hexd[:2]}/{hexd}"

    def path_for(self, digest: str) -> Path:
        return Path(self._str_path(digest))

    def has(self, digest: str) -> bool:
        return (self._pending is not None and digest in self._pending) or os.path.exists(self._str_path(digest))

    def __iter__(self) -> Iterator[str]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for sub in sorted(os.listdir(base)):
            d = base / sub
            if not d.is_dir():
                continue
            for name in sorted(os.listdir(d)):
                if len(name) == 64 and not name.startswith("."):
                    yield "sha256:" + name

    # -- writing -------------------------------------------------------------------------
    def _tmp(self) -> tuple[int, str]:
        """A new temp file in the store (pid + counter names it: no retry loop, no randomness)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for _ in range(2):
            name = f"{self._tmp_prefix}{next(self._tmp_count)}.{threading.get_ident()}"
            try:
                return os.open(name, flags, 0o444), name  # read-only once closed; we write via this fd
            except FileNotFoundError:
                self.tmpdir.mkdir(parents=True, exist_ok=True)
            except FileExistsError:  # a leftover of a killed process with our pid: skip the name
                continue
        import tempfile

        return tempfile.mkstemp(prefix="obj.", dir=self.tmpdir)

    def _install(self, tmp: str, digest: str) -> Path:
        final = self._str_path(digest)
        os.chmod(tmp, 0o444)
        if self._pending is not None:
            self._pending[digest] = tmp
            return Path(final)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
        return Path(final)

    def _fsync(self, f) -> None:
        if self._pending is None:
            f.flush()
            os.fsync(f.fileno())

    @contextmanager
    def batch(self):
        """Write many objects with one filesystem sync instead of one fsync each (git's
        ``core.fsyncMethod=batch``): objects go to temp files, one ``syncfs`` makes them durable,
        then they are renamed into place and the renames are synced.  Objects written in a batch
        become visible only when it ends; on an exception the batch is discarded."""
        if self._pending is not None:
            yield self
            return
        self._pending = {}
        try:
            yield self
        except BaseException:
            for tmp in self._pending.values():
                _unlink_quiet(tmp)
            self._pending = None
            raise
        pending, self._pending = self._pending, None
        if pending:
            sync_files(list(pending.values()))
            made: set[str] = set()
            for digest, tmp in pending.items():
                final = self._str_path(digest)
                parent = final[: final.rfind("/")]
                if parent not in made:
                    os.makedirs(parent, exist_ok=True)
                    made.add(parent)
                os.replace(tmp, final)
            if len(pending) >= SYNCFS_MIN_FILES:
                syncfs(self.root)
            else:
                for d in made:
                    fsync_dir(d)

    def put_bytes(self, data: bytes, compress: bool = True) -> str:
        digest = dg.of_bytes(data)
        if self.has(digest):
            return digest
        payload = data
        if data.startswith(ZSTD_MAGIC) or (compress and len(data) < COMPRESS_MAX and len(data) > 64):
            packed = _compressor().compress(data)
            if data.startswith(ZSTD_MAGIC) or len(packed) < len(data) - len(data) // 8:
                payload = packed
        fd, tmp = self._tmp()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                self._fsync(f)
            self._install(tmp, digest)
        except BaseException:
            _unlink_quiet(tmp)
            raise
        return digest

    def put_stream(self, stream: BinaryIO, expected: str | None = None, expected_size: int | None = None) -> tuple[str, int]:
        """Copy a stream into the store, hashing as it goes; refuse a digest/size mismatch."""
        fd, tmp = self._tmp()
        h = hashlib.sha256()
        n = 0
        first = b""
        try:
            with os.fdopen(fd, "wb") as f:
                while True:
                    chunk = stream.read(dg.CHUNK)
                    if not chunk:
                        break
                    if n == 0:
                        first = chunk[:4]
                    h.update(chunk)
                    f.write(chunk)
                    n += len(chunk)
                self._fsync(f)
            digest = "sha256:" + h.hexdigest()
            if expected is not None and digest != expected:
                raise IntegrityError(f"digest mismatch: expected {expected}, got {digest}")
            if expected_size is not None and n != expected_size:
                raise IntegrityError(f"size mismatch for {digest}: expected {expected_size} bytes, got {n}")
            if self.has(digest):
                _unlink_quiet(tmp)
                return digest, n
            if first == ZSTD_MAGIC:
                # raw bytes that look like a zstd frame are stored compressed (see module doc)
                tmp = self._compress_file(tmp)
            self._install(tmp, digest)
            return digest, n
        except BaseException:
            _unlink_quiet(tmp)
            raise

    def _compress_file(self, raw_tmp: str) -> str:
        import zstandard

        fd, out = self._tmp()
        try:
            with open(raw_tmp, "rb") as src, os.fdopen(fd, "wb") as dst:
                zstandard.ZstdCompressor(level=ZSTD_LEVEL).copy_stream(src, dst, size=os.path.getsize(raw_tmp))
                dst.flush()
                os.fsync(dst.fileno())
        except BaseException:
            _unlink_quiet(out)
            raise
        finally:
            _unlink_quiet(raw_tmp)
        return out

    def put_file(self, path: str | os.PathLike, compress: bool = True) -> tuple[str, int]:
        """Store a worktree file; returns (digest, size)."""
        size = os.path.getsize(path)
        if size < COMPRESS_MAX:
            with open(path, "rb") as f:
                data = f.read()
            return self.put_bytes(data, compress=compress), len(data)
        with open(path, "rb") as f:
            return self.put_stream(f)

    def put_reflink(self, path: str | os.PathLike, digest: str) -> bool:
        """Clone a big file into the store without copying its blocks; False where unsupported.

        The caller has hashed ``path``; the clone is re-hashed lazily by ``fsck``/``verify``.
        """
        if self.has(digest):
            return True
        fd, tmp = self._tmp()
        try:
            with open(path, "rb") as src:
                ok = try_reflink(src.fileno(), fd)
            os.close(fd)
            if not ok:
                _unlink_quiet(tmp)
                return False
            with open(tmp, "rb") as f:
                if f.read(4) == ZSTD_MAGIC:
                    _unlink_quiet(tmp)
                    return False
            self._install(tmp, digest)
            return True
        except BaseException:
            _unlink_quiet(tmp)
            raise

    # -- reading -------------------------------------------------------------------------
    def _file(self, digest: str) -> Path:
        if self._pending is not None and digest in self._pending:
            return Path(self._pending[digest])
        return self.path_for(digest)

    def open(self, digest: str) -> BinaryIO:
        p = self._file(digest)
        try:
            f = open(p, "rb")
        except FileNotFoundError:
            raise NotFound(f"object {digest} is not in the object store") from None
        head = f.read(4)
        f.seek(0)
        if head == ZSTD_MAGIC:
            import zstandard

            return zstandard.ZstdDecompressor().stream_reader(f, closefd=True)
        return f

    def read(self, digest: str, verify: bool = True) -> bytes:
        with self.open(digest) as f:
            data = f.read()
        if verify and dg.of_bytes(data) != digest:
            raise IntegrityError(f"object {digest} is corrupt: its content does not hash to its name", hint="run mops fsck")
        return data

    def size(self, digest: str) -> int:
        p = self._file(digest)
        try:
            with open(p, "rb") as f:
                head = f.read(18)
        except FileNotFoundError:
            raise NotFound(f"object {digest} is not in the object store") from None
        if head[:4] == ZSTD_MAGIC:
            import zstandard

            n = zstandard.frame_content_size(head)
            if n >= 0:
                return n
            return len(self.read(digest, verify=False))
        return p.stat().st_size

    def is_raw(self, digest: str) -> bool:
        """True when the file on disk holds the object's raw bytes (so it can be linked)."""
        with open(self._file(digest), "rb") as f:
            return f.read(4) != ZSTD_MAGIC

    def kind(self, digest: str) -> str:
        """``manifest``, ``tree`` (a bundle config) or ``blob``, told from the content."""
        if self.size(digest) > COMPRESS_MAX:
            return "blob"
        data = self.read(digest, verify=False)
        return kind_of_bytes(data)

    def verify(self, digest: str) -> bool:
        try:
            with self.open(digest) as f:
                got, _ = dg.of_stream(f)
        except NotFound:
            return False
        return got == digest

    def delete(self, digest: str) -> None:
        _unlink_quiet(str(self.path_for(digest)))

    def sync(self) -> None:
        fsync_dir(self.root)


_local = threading.local()


def _compressor():
    """One zstd context per thread: making one costs more than compressing a small file."""
    c = getattr(_local, "zc", None)
    if c is None:
        import zstandard

        c = _local.zc = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)
    return c


def kind_of_bytes(data: bytes) -> str:
    if data[:1] != b"{":
        return "blob"
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return "blob"
    if not isinstance(obj, dict):
        return "blob"
    if obj.get("mediaType") == MANIFEST_MEDIA_TYPE and obj.get("schemaVersion") == 2:
        return "manifest"
    if obj.get("schemaVersion") == 1 and isinstance(obj.get("files"), list):
        return "tree"
    return "blob"
