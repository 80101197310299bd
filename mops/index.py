"""The index: staging area and stat cache, in a compact columnar binary file.

Layout (all integers little-endian; docs/FORMAT.md is the reference):

    header   8s magic "MOPSIDX1" | u32 version (1) | u32 entry count | u32 reserved (0)
    records  count x 78 bytes, in path order:
             u32 mode | u64 size | i64 mtime_ns | i64 ctime_ns | u64 inode | u64 device |
             32s sha256 digest | u8 storage class | u8 flags
    paths    count UTF-8 relative POSIX paths, each ended by NUL, same order, sorted by bytes
    trailer  32s sha256 of every byte before it

Loading is one checksum, one ``struct.iter_unpack`` and one ``split`` — no per-entry Python
parsing — so 100,000 entries load in tens of milliseconds.

Only one writer at a time: the writer creates ``index.lock`` with O_CREAT|O_EXCL, writes the new
index into it, fsyncs and renames it over ``index`` (git's protocol).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from typing import NamedTuple

from .errors import CorruptIndex, LockHeld

MAGIC = b"MOPSIDX1"
VERSION = 1
_HEADER = struct.Struct("<8sIII")
_RECORD = struct.Struct("<IQqqQQ32sBB")
_SHA_OFFSET = 44  # first byte of the digest within a record
_STORAGE_OFFSET = 76  # byte of the storage class within a record

# storage classes
STORAGE_AUTO = 0  # decided by the storage policy when the tree is written
STORAGE_REGISTRY = 1
STORAGE_EXTERNAL = 2
STORAGE_NAMES = {STORAGE_AUTO: "auto", STORAGE_REGISTRY: "registry", STORAGE_EXTERNAL: "external"}

# flags
FLAG_WORKTREE = 1  # content not copied into the object store: read from the worktree, re-verified
FLAG_POINTER = 2  # the worktree holds a lazy pointer file (docs/FORMAT.md) standing for the content


class Entry(NamedTuple):
    mode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int
    sha: bytes  # raw 32-byte sha256
    storage: int = STORAGE_AUTO
    flags: int = 0

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hex()

    @property
    def exec_mode(self) -> str:
        return "0755" if self.mode & 0o111 else "0644"

    def stat_matches(self, st: os.stat_result) -> bool:
        return stat_matches(self, st)


# positions in an entry tuple, for hot loops over raw tuples
E_MODE, E_SIZE, E_MTIME, E_CTIME, E_INO, E_DEV, E_SHA, E_STORAGE, E_FLAGS = range(9)


def stat_matches(e: tuple, st: os.stat_result) -> bool:
    """True when the file's stat data is what was recorded: its content need not be read."""
    return (
        e[1] == st.st_size
        and e[2] == st.st_mtime_ns
        and e[3] == st.st_ctime_ns
        and e[4] == st.st_ino
        and (e[0] & 0o111 != 0) == (st.st_mode & 0o111 != 0)
    )


def entry_from_stat(st: os.stat_result, digest: str, storage: int = STORAGE_AUTO, flags: int = 0) -> Entry:
    return Entry(
        st.st_mode & 0o777 | 0o100000,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_dev,
        bytes.fromhex(digest.split(":", 1)[1]),
        storage,
        flags,
    )


class Index:
    """path → Entry, plus the mtime of the index file for the racy-timestamp rule."""

    def __init__(self, entries: dict[str, Entry] | None = None, mtime_ns: int = 0, _raw=None):
        if _raw is None:
            self.entries: dict[str, Entry] = entries if entries is not None else {}
        else:
            # loaded from a file: records stay packed until someone needs them as tuples
            self._raw = _raw  # (body, start of records, end of records, paths in order)
        self.mtime_ns = mtime_ns
        self.checksum: bytes | None = None  # the file's sha256 trailer, when loaded from one

    def __getattr__(self, name: str):
        if name == "entries" and "_raw" in self.__dict__:
            # Plain tuples, not Entry objects: building 100,000 NamedTuples would double the
            # time.  Entry is a tuple with the same field order, so both kinds live in one dict;
            # ``get`` hands out Entry objects and hot loops index the tuples by position.
            body, start, end, paths = self._raw
            vals = list(_RECORD.iter_unpack(body[start:end]))
            self._orig = vals  # to_bytes reuses the packed bytes of every entry left as it was
            ents = self.entries = dict(zip(paths, vals, strict=True))
            return ents
        raise AttributeError(name)

    def paths(self) -> list[str]:
        """Every path, in index order, without unpacking a record."""
        if "entries" in self.__dict__:
            return sorted(self.entries)
        return self._raw[3]

    def lookup(self, path: str) -> tuple | None:
        """One entry as a tuple; unpacks only that record when the others are still packed."""
        if "entries" in self.__dict__:
            return self.entries.get(path)
        from bisect import bisect_left

        body, start, _end, paths = self._raw
        i = bisect_left(paths, path)  # paths are in code-point order, the file's order
        if i == len(paths) or paths[i] != path:
            return None
        return _RECORD.unpack_from(body, start + i * _RECORD.size)

    def sha_exec(self) -> dict[str, tuple[bytes, bool]]:
        """{path: (raw sha256, executable)}, what a bundle records of each file, read from the
        packed records in bulk (strided slices) when they are not unpacked yet."""
        if "entries" in self.__dict__:
            return {p: (e[6], e[0] & 0o111 != 0) for p, e in self.entries.items()}
        body, start, end, paths = self._raw
        size = _RECORD.size
        shas = [body[o : o + 32] for o in range(start + _SHA_OFFSET, end, size)]
        execs = [b & 0o111 != 0 for b in body[start:end:size]]  # the low byte of each mode
        return dict(zip(paths, zip(shas, execs, strict=True), strict=True))

    def __len__(self) -> int:
        return len(self.entries) if "entries" in self.__dict__ else len(self._raw[3])

    def __contains__(self, path: str) -> bool:
        return path in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.entries))

    def get(self, path: str) -> Entry | None:
        e = self.entries.get(path)
        if e is None or type(e) is Entry:
            return e
        return Entry._make(e)

    def items(self) -> Iterator[tuple[str, Entry]]:
        """(path, Entry) in path order (code-point order, which is also UTF-8 byte order)."""
        ents = self.entries
        for p in sorted(ents):
            e = ents[p]
            yield p, (e if type(e) is Entry else Entry._make(e))

    def digests(self) -> dict[str, str]:
        return {p: "sha256:" + e[6].hex() for p, e in self.entries.items()}

    def is_racy(self, e: tuple) -> bool:
        """Git's rule: an entry not strictly older than the index file may hide an edit."""
        return self.mtime_ns == 0 or e[2] >= self.mtime_ns

    # -- serialisation -------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        body = self._patched_body()
        if body is not None:
            return body + hashlib.sha256(body).digest()
        paths = sorted(self.entries)  # code-point order == UTF-8 byte order
        pack = _RECORD.pack
        ents = self.entries
        parts = [_HEADER.pack(MAGIC, VERSION, len(paths), 0)]
        parts.extend(pack(*ents[p]) for p in paths)
        parts.append("".join(p + "\0" for p in paths).encode("utf-8"))
        body = b"".join(parts)
        return body + hashlib.sha256(body).digest()

    def _patched_body(self) -> bytes | None:
        """The file's bytes when the paths are those loaded and only some entries changed: the
        loaded bytes with those records packed over (``mops add`` of one file in a 100,000-file
        index packs one record, not 100,000).  None when paths were added or removed."""
        orig = self.__dict__.get("_orig")
        if orig is None or "_raw" not in self.__dict__:
            return None
        body, start, end, paths = self._raw
        ents = self.entries
        if len(ents) != len(paths):
            return None
        missing = object()
        changed = [i for i, (p, v) in enumerate(zip(paths, orig, strict=True)) if ents.get(p, missing) is not v]
        size = _RECORD.size
        records = bytearray(body[start:end])
        for i in changed:
            e = ents.get(paths[i], missing)
            if e is missing:
                return None  # same count, other paths
            _RECORD.pack_into(records, i * size, *e)
        return b"".join((body[:start], records, body[end:]))

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "index", mtime_ns: int = 0) -> Index:
        if len(data) < _HEADER.size + 32:
            raise CorruptIndex(where, "truncated")
        magic, version, count, _ = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise CorruptIndex(where, "bad magic number")
        if version != VERSION:
            raise CorruptIndex(where, f"unsupported version {version}")
        body, trailer = data[:-32], data[-32:]
        if hashlib.sha256(body).digest() != trailer:
            raise CorruptIndex(where, "checksum mismatch: truncated or damaged")
        rec_end = _HEADER.size + count * _RECORD.size
        if rec_end > len(body):
            raise CorruptIndex(where, "truncated")
        names = body[rec_end:]
        if count and not names.endswith(b"\0"):
            raise CorruptIndex(where, "path table is not terminated")
        try:
            table = names.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptIndex(where, "path table is not UTF-8") from None
        paths = table[:-1].split("\0") if count else []
        if len(paths) != count or (not count and names):
            raise CorruptIndex(where, "path count does not match the header")
        # every record's storage class byte at once (a strided slice), no per-entry Python
        if count and max(body[_HEADER.size + _STORAGE_OFFSET : rec_end : _RECORD.size]) > STORAGE_EXTERNAL:
            raise CorruptIndex(where, "unknown storage class")
        index = cls(mtime_ns=mtime_ns, _raw=(body, _HEADER.size, rec_end, paths))
        index.checksum = trailer
        return index

    @classmethod
    def load(cls, path: str | os.PathLike) -> Index:
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except FileNotFoundError:
            return cls()
        return cls.from_bytes(data, str(path), st.st_mtime_ns)


class IndexLock:
    """``with IndexLock(index_path) as lock: lock.commit(index)`` — one writer at a time."""

    def __init__(self, index_path: str | os.PathLike):
        self.index_path = os.fspath(index_path)
        self.lock_path = self.index_path + ".lock"
        self.fd: int | None = None

    def __enter__(self) -> IndexLock:
        try:
            self.fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise LockHeld(self.lock_path) from None
        return self

    def commit(self, index: Index) -> None:
        assert self.fd is not None
        data = index.to_bytes()
        os.write(self.fd, data)
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        os.replace(self.lock_path, self.index_path)
        index.mtime_ns = os.stat(self.index_path).st_mtime_ns

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass

