"""The shared content-addressed cache (SPEC §2): ``$MOPS_CACHE``, default ``$XDG_CACHE_HOME/mops``.

Every project and every worker process on the machine shares it.  Layout (docs/WORKERS.md):

    objects/sha256/<hex[:2]>/<hex>   verified raw bytes, read-only (0444), written once
    tmp/<hex>.<random>               downloads in progress; renamed into objects/ only once verified
    locks/<hex[:2]>/<hex>            per-object locks: N processes asking for one blob fetch it once
    locks/dest-<key>                 per-destination locks: one materialize into a directory at a time
    bundles/<hex>.json               the objects of a bundle; its mtime is the bundle's last use (LRU)
    materialized/<key>.json          completion markers of materialized directories (never in DEST)
    checkouts/<hex>[@role]/          where ``mops.ensure_local`` materializes when given no directory
    etags.json                       external objects' etags seen when their bytes verified (``verify``)

An object becomes visible only after its bytes were hashed and matched the digest, fsynced and
renamed: a reader never sees a partial or wrong object, whatever was killed when.  Locks are
``flock`` locks (filelock), released by the kernel when their holder dies, so a SIGKILLed download
never blocks the next one; the next holder removes the dead download's temp file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as statmod
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from . import digest as dg
from .errors import IntegrityError, UsageError
from .fsutil import _unlink_quiet, atomic_write_bytes, fsync_dir

Opener = Callable[[], BinaryIO]
OBJECT_MTIME_NS = 1_000_000_000  # every cached object's mtime: 1970-01-01T00:00:01Z (see Cache.intact)


def default_root(repo=None) -> Path:
    """``cache.dir`` of the project if set, else ``$MOPS_CACHE``, else ``$XDG_CACHE_HOME/mops``
    (``~/.cache/mops``)."""
    if repo is not None:
        try:
            configured = repo.config.get("cache.dir")
        except Exception:  # noqa: BLE001 — a broken config is reported by the command that needs it
            configured = None
        if configured:
            return Path(os.path.expanduser(configured)).absolute()
    env = os.environ.get("MOPS_CACHE")
    if env:
        return Path(os.path.expanduser(env)).absolute()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg).absolute() / "mops"


def dest_key(dest: str | os.PathLike) -> str:
    """A stable name for a destination directory (its real path), for its lock and marker."""
    return hashlib.sha256(os.path.realpath(dest).encode("utf-8", "surrogateescape")).hexdigest()[:32]


class Cache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @classmethod
    def open(cls, repo=None) -> Cache:
        return cls(default_root(repo))

    # -- naming ------------------------------------------------------------------------------
    def object_path(self, digest: str) -> Path:
        h = dg.hex_of(digest)
        return self.root / "objects" / "sha256" / h[:2] / h

    def _lock_path(self, name: str) -> Path:
        return self.root / "locks" / name

    def object_lock(self, digest: str):
        from filelock import FileLock

        h = dg.hex_of(digest)
        p = self._lock_path(f"{h[:2]}/{h}")
        p.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(p))

    def dest_lock(self, dest: str | os.PathLike) -> Flock:
        p = self._lock_path(f"dest-{dest_key(dest)}")
        p.parent.mkdir(parents=True, exist_ok=True)
        return Flock(p)

    def has(self, digest: str) -> bool:
        return self.object_path(digest).is_file()

    # -- reading -------------------------------------------------------------------------------
    def open_object(self, digest: str) -> BinaryIO:
        return open(self.object_path(digest), "rb")

    def read_bytes(self, digest: str) -> bytes:
        return self.object_path(digest).read_bytes()

    # -- writing -------------------------------------------------------------------------------
    def put_bytes(self, data: bytes, expected: str | None = None) -> str:
        """Store small bytes (a manifest, a config) under their digest."""
        digest = dg.of_bytes(data)
        if expected is not None and digest != expected:
            raise IntegrityError(f"content does not match {expected} (it hashes to {digest})")
        if not self.intact(digest, len(data)):
            import io

            self.ensure(digest, len(data), lambda: io.BytesIO(data))
        return digest

    def intact(self, digest: str, size: int) -> bool:
        """The cached object is there, of the right size, and untouched since it was verified.

        Objects carry a fixed mtime (``OBJECT_MTIME_NS``, as the nix store does): any write through a
        hardlink — possible for root despite the read-only mode — changes it, so a tampered object is
        never trusted again without being re-hashed."""
        try:
            st = os.stat(self.object_path(digest))
        except FileNotFoundError:
            return False
        return st.st_size == size and st.st_mtime_ns == OBJECT_MTIME_NS

    def ensure(self, digest: str, size: int, opener: Opener, progress=None, what: str | None = None) -> tuple[Path, bool]:
        """The cached object, fetched through ``opener`` if missing → (path, fetched_now).

        Under the object's lock: whoever gets it first downloads, the others wait and find it there.
        """
        final = self.object_path(digest)
        if self.intact(digest, size):
            return final, False
        with self.object_lock(digest):
            if self.intact(digest, size):
                return final, False
            if final.exists() and not self._rehash_ok(final, digest, size):
                # written through a hardlink (or damaged): the linked copies share its fate, the
                # cache does not — it gets a fresh, verified object under a new inode
                _unlink_quiet(str(final))
            if not final.exists():
                self._download(digest, size, opener, final, progress, what)
                return final, True
        return final, False

    def _rehash_ok(self, final: Path, digest: str, size: int) -> bool:
        try:
            got, n = dg.of_file(final)
        except OSError:
            return False
        if got != digest or n != size:
            return False
        try:
            os.utime(final, ns=(time.time_ns(), OBJECT_MTIME_NS))
        except OSError:
            return False
        return True

    def _download(self, digest: str, size: int, opener: Opener, final: Path, progress, what: str | None) -> None:
        import secrets

        h = dg.hex_of(digest)
        tmpdir = self.root / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        # a download of this object killed earlier left its temp file: we hold the lock, it is dead
        for name in os.listdir(tmpdir):
            if name.startswith(h + "."):
                _unlink_quiet(str(tmpdir / name))
        tmp = tmpdir / f"{h}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        hasher = hashlib.sha256()
        n = 0
        try:
            with os.fdopen(fd, "wb") as out, opener() as src:
                buf = bytearray(dg.CHUNK)
                view = memoryview(buf)
                readinto = getattr(src, "readinto", None)
                while True:
                    if readinto is not None:
                        got = readinto(buf)
                        chunk = view[:got] if got else b""
                    else:
                        chunk = src.read(dg.CHUNK)
                    if not chunk:
                        break
                    n += len(chunk)
                    if n > size:  # longer than recorded: wrong already, stop reading it
                        break
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress.advance(len(chunk))
                got_digest = "sha256:" + hasher.hexdigest()
                if got_digest != digest or n != size:
                    raise IntegrityError(
                        f"{what or digest}: downloaded content does not match {digest} (got {got_digest}, {n} of {size} bytes)",
                        hint="the remote copy is corrupt; run mops verify on the bundle",
                    )
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)
            os.utime(tmp, ns=(time.time_ns(), OBJECT_MTIME_NS))
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            fsync_dir(final.parent)
        except BaseException:
            _unlink_quiet(str(tmp))
            raise

    # -- external objects' etags ----------------------------------------------------------------
    def etag_book(self):
        """uri → (size, etag) of external objects whose bytes verified on this machine: a plain
        ``verify`` catches an object rewritten with bytes of the same size without reading it."""
        from .external import EtagBook

        return EtagBook(self.root / "etags.json")

    def record_etags(self, etags: dict[str, tuple[int, str]]) -> None:
        """Merge ``etags`` into the book under a lock (many processes record at once)."""
        if not etags:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with Flock(self._lock_path_made("etags")):
            book = self.etag_book()
            for uri, (size, etag) in etags.items():
                book.record(uri, size, etag)
            book.save()

    def _lock_path_made(self, name: str) -> Path:
        p = self._lock_path(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    # -- bundles: last use and completion markers ---------------------------------------------
    def touch_bundle(self, manifest_digest: str, digests: list[str]) -> None:
        """Record that a bundle (and so its objects) was just used: the LRU clock of ``gc --cache``."""
        p = self.root / "bundles" / f"{dg.hex_of(manifest_digest)}.json"
        try:
            os.utime(p)
            return
        except FileNotFoundError:
            pass
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(p, json.dumps(sorted(set(digests))).encode(), sync=False)

    def marker_path(self, dest: str | os.PathLike) -> Path:
        return self.root / "materialized" / f"{dest_key(dest)}.json"

    def read_marker(self, dest: str | os.PathLike) -> dict | None:
        try:
            data = json.loads(self.marker_path(dest).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("dest") != os.path.realpath(dest):
            return None
        return data

    def write_marker(self, dest: str | os.PathLike, data: dict) -> None:
        p = self.marker_path(dest)
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(p, json.dumps({**data, "dest": os.path.realpath(dest)}, sort_keys=True).encode())

    def drop_marker(self, dest: str | os.PathLike) -> None:
        p = self.marker_path(dest)
        if p.exists():
            _unlink_quiet(str(p))
            fsync_dir(p.parent)

    def checkout_dir(self, manifest_digest: str, role: str | None) -> Path:
        name = dg.hex_of(manifest_digest) + (f"@{role}" if role else "")
        return self.root / "checkouts" / name

    # -- housekeeping (gc --cache) -------------------------------------------------------------
    def trim(self, max_size: int | None, dry_run: bool = False) -> TrimResult:
        """Drop dead temp files and stale markers; then, with ``max_size``, evict least recently
        used objects and checkouts until the cache holds at most ``max_size`` bytes."""
        res = TrimResult(max_size=max_size)
        res.tmp_removed = self._sweep_tmp(dry_run)
        res.markers_removed = self._sweep_markers(dry_run)
        items, inodes = self._inventory()
        res.size_before = sum(size for size, _ in inodes.values())
        total = res.size_before
        if max_size is not None and total > max_size:
            for last_use, kind, path, files in sorted(items, key=lambda x: (x[0], x[2])):
                if total <= max_size:
                    break
                for f in files:
                    key = _inode_key(f)
                    if key is None or key not in inodes:
                        continue
                    size, paths = inodes[key]
                    paths.discard(f)
                    if not paths:
                        total -= size
                        del inodes[key]
                if not dry_run:
                    _remove(kind, path)
                res.evicted.append({"kind": kind, "path": str(path), "last_use": last_use})
        res.size_after = total
        if not dry_run:
            self._sweep_stamps()
        return res

    def _sweep_tmp(self, dry_run: bool) -> int:
        tmpdir = self.root / "tmp"
        if not tmpdir.is_dir():
            return 0
        n = 0
        for name in os.listdir(tmpdir):
            h = name.split(".", 1)[0]
            if len(h) != 64:
                continue
            lock = self.object_lock("sha256:" + h)
            lock.timeout = 0
            try:
                with lock:  # nobody is downloading it: the temp file is a dead download's
                    if not dry_run:
                        _unlink_quiet(str(tmpdir / name))
                    n += 1
            except Exception:  # noqa: BLE001 — filelock.Timeout: a live download
                continue
        return n

    def _sweep_markers(self, dry_run: bool) -> int:
        d = self.root / "materialized"
        if not d.is_dir():
            return 0
        n = 0
        for name in os.listdir(d):
            try:
                data = json.loads((d / name).read_bytes())
            except (OSError, ValueError):
                data = {}
            dest = data.get("dest") if isinstance(data, dict) else None
            if not dest or not os.path.isdir(dest):
                if not dry_run:
                    _unlink_quiet(str(d / name))
                n += 1
        return n

    def _sweep_stamps(self) -> None:
        d = self.root / "bundles"
        if not d.is_dir():
            return
        for name in os.listdir(d):
            if not self.has("sha256:" + name.removesuffix(".json")):
                _unlink_quiet(str(d / name))

    def _inventory(self):
        """Evictable items (last use, kind, path, files) and {inode: (size, paths in the cache)}."""
        last_use: dict[str, float] = {}
        bdir = self.root / "bundles"
        if bdir.is_dir():
            for name in os.listdir(bdir):
                try:
                    st = os.stat(bdir / name)
                    digests = json.loads((bdir / name).read_bytes())
                except (OSError, ValueError):
                    continue
                for d in digests if isinstance(digests, list) else []:
                    if isinstance(d, str) and last_use.get(d, 0) < st.st_mtime:
                        last_use[d] = st.st_mtime
        items = []
        inodes: dict[tuple[int, int], tuple[int, set[str]]] = {}

        def note(path: str, st: os.stat_result) -> None:
            key = (st.st_dev, st.st_ino)
            if key in inodes:
                inodes[key][1].add(path)
            else:
                inodes[key] = (st.st_size, {path})

        odir = self.root / "objects" / "sha256"
        if odir.is_dir():
            for sub in os.listdir(odir):
                for name in os.listdir(odir / sub):
                    p = str(odir / sub / name)
                    try:
                        st = os.lstat(p)
                    except OSError:
                        continue
                    note(p, st)
                    # ctime moves whenever a hardlink of the object is made: a use the stamps may miss
                    items.append((max(st.st_ctime, last_use.get("sha256:" + name, 0)), "object", p, [p]))
        cdir = self.root / "checkouts"
        if cdir.is_dir():
            for name in os.listdir(cdir):
                root = cdir / name
                marker = self.read_marker(root)
                files = []
                for dirpath, _dirs, fnames in os.walk(root):
                    for fn in fnames:
                        p = os.path.join(dirpath, fn)
                        try:
                            st = os.lstat(p)
                        except OSError:
                            continue
                        if statmod.S_ISREG(st.st_mode):
                            note(p, st)
                            files.append(p)
                try:
                    used = os.stat(self.marker_path(root)).st_mtime if marker else os.stat(root).st_mtime
                except OSError:
                    used = 0.0
                items.append((used, "checkout", str(root), files))
        return items, inodes

    def size(self) -> int:
        _items, inodes = self._inventory()
        return sum(size for size, _ in inodes.values())


class Flock:
    """An exclusive ``flock(2)`` on a file, as filelock takes on Unix, for the warm path: a
    materialize that finds everything in place should not pay filelock's import (~30 ms)."""

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> Flock:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


@dataclass
class TrimResult:
    max_size: int | None
    size_before: int = 0
    size_after: int = 0
    evicted: list[dict] = field(default_factory=list)
    tmp_removed: int = 0
    markers_removed: int = 0


def _complete(path: Path, size: int) -> bool:
    try:
        return os.stat(path).st_size == size
    except FileNotFoundError:
        return False


def _inode_key(path: str):
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _remove(kind: str, path: str) -> None:
    if kind == "object":
        _unlink_quiet(path)
        return
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def check_link_mode(link: str) -> str:
    if link not in ("auto", "reflink", "hardlink", "copy"):
        raise UsageError(f"invalid --link {link!r}: auto, reflink, hardlink or copy")
    return link

