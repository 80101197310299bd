"""Writing bundle files into a directory safely: verified, atomic, never through a symlink.

Every file is written to a temp file beside its destination while its digest is computed; only
when digest and size match is it fsynced and renamed into place.  No parent directory may be a
symbolic link, so a hostile or careless tree cannot make mops write outside the destination.
"""

from __future__ import annotations

import hashlib
import os
import stat as statmod
from pathlib import Path
from typing import BinaryIO

from .bundle import check_bundle_path
from .digest import CHUNK
from .errors import IntegrityError, UnsafePath
from .fsutil import Writeback, _unlink_quiet, mkstemp_beside


def safe_target(root: str | os.PathLike, rel: str, create_dirs: bool = True) -> Path:
    """``root/rel`` after checking that no existing parent component is a symlink or a file."""
    check_bundle_path(rel)
    root = Path(root)
    cur = root
    parts = rel.split("/")
    for part in parts[:-1]:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            if not create_dirs:
                continue
            try:
                os.mkdir(cur)
                continue
            except FileExistsError:  # made meanwhile by a parallel download: check what it is
                st = os.lstat(cur)
        if statmod.S_ISLNK(st.st_mode):
            raise UnsafePath(f"{rel}: {cur.relative_to(root)} is a symbolic link; refusing to write through it")
        if not statmod.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{rel}: {cur.relative_to(root)} is a file where a directory is needed")
    target = cur / parts[-1]
    try:
        st = os.lstat(target)
        if statmod.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{rel}: a directory is in the way")
    except FileNotFoundError:
        pass
    return target


READ_AHEAD_MIN = 8 << 20  # from this size a helper thread reads the next chunks while this one hashes and writes


def _chunks(source: BinaryIO):
    while chunk := source.read(CHUNK):
        yield chunk


def _read_ahead(source: BinaryIO, depth: int = 4):
    """Yield ``source``'s chunks, read by a helper thread up to ``depth`` chunks ahead: receiving
    from the network overlaps hashing and writing (both release the GIL on big buffers).  An
    error in the reader is raised here; stopping early stops the reader."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    DONE = object()

    def pump() -> None:
        try:
            while not stop.is_set():
                chunk = source.read(CHUNK)
                if not chunk:
                    break
                while not stop.is_set():
                    try:
                        q.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            q.put(DONE)
        except BaseException as e:  # handed to the consumer, which raises it with its exit code
            q.put(e)

    t = threading.Thread(target=pump, name="mops-read-ahead", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # drain so a blocked put sees the stop flag
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        t.join()


def copy_to_temp(target: Path, source: BinaryIO, digest: str, size: int, mode: str = "0644", progress=None,
                 sync: bool = False) -> str:
    """Copy ``source`` into a temp file beside ``target`` while hashing it; refuse (exit 11, temp file
    removed) bytes that do not match ``digest``/``size``.  Returns the temp file, ready to rename."""
    fd, tmp = mkstemp_beside(target)
    big = size >= READ_AHEAD_MIN
    h = None
    n = 0
    try:
        h = _ThreadedHash() if big else hashlib.sha256()
        with os.fdopen(fd, "wb") as f:
            wb = Writeback(f.fileno()) if big else None
            for chunk in (_read_ahead(source) if big else _chunks(source)):
                h.update(chunk)
                f.write(chunk)
                n += len(chunk)
                if wb is not None:
                    wb.advance(len(chunk))
                if progress is not None:
                    progress.advance(len(chunk))
            got = "sha256:" + h.hexdigest()
            if got != digest or n != size:
                raise IntegrityError(f"{target.name}: content does not match {digest} (got {got}, {n} bytes)")
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o755 if mode == "0755" else 0o644)
        return tmp
    except BaseException:
        _unlink_quiet(tmp)
        raise
    finally:
        if isinstance(h, _ThreadedHash):
            h.close()


class _ThreadedHash:
    """sha256 in a helper thread: a big download is received, hashed and written by three
    threads at once (each releases the GIL on big buffers), so a pull costs the slowest of the
    three rather than the sum of hashing and writing."""

    def __init__(self, depth: int = 8):
        import queue
        import threading

        self._h = hashlib.sha256()
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._t = threading.Thread(target=self._run, name="mops-hash", daemon=True)
        self._t.start()

        self._error: BaseException | None = None

    def _run(self) -> None:
        while (chunk := self._q.get()) is not None:
            if self._error is None:
                try:
                    self._h.update(chunk)
                except BaseException as e:  # noqa: BLE001 — handed to the writing thread
                    self._error = e  # and keep draining, so a put never blocks for ever

    def update(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(chunk)

    def hexdigest(self) -> str:
        self.close()
        if self._error is not None:
            raise self._error
        return self._h.hexdigest()

    def close(self) -> None:
        if self._t.is_alive():
            self._q.put(None)
            self._t.join()


def write_verified(target: Path, source: BinaryIO, digest: str, size: int, mode: str = "0644", progress=None) -> os.stat_result:
    """Copy ``source`` to ``target`` atomically, refusing (exit 11) bytes that do not match."""
    tmp = copy_to_temp(target, source, digest, size, mode, progress, sync=True)
    try:
        os.replace(tmp, target)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    return os.stat(target)


class BatchWriter:
    """Write many verified files with one filesystem sync: each file goes to a temp file beside
    its destination (verified while written), ``commit()`` syncs the filesystem once and renames
    them all into place.  On an exception nothing is renamed and the temp files are removed, so a
    failed pull or checkout leaves no partial file and no half-applied change set.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[str, Path, str]] = []  # (tmp, target, mode)

    def add(self, target: Path, source: BinaryIO, digest: str, size: int, mode: str = "0644", progress=None) -> str:
        """Verify ``source`` into a temp file beside ``target``; returns the temp file's path."""
        tmp = copy_to_temp(target, source, digest, size, mode, progress)
        self.pending.append((tmp, target, mode))
        return tmp

    def adopt(self, tmp: str, target: Path, mode: str = "0644") -> None:
        """Take over an already verified temp file (e.g. a download) to rename with the rest."""
        self.pending.append((tmp, target, mode))

    def commit(self) -> dict[Path, os.stat_result]:
        if not self.pending:
            return {}
        from .fsutil import SYNCFS_MIN_FILES, fsync_dir, sync_files, syncfs

        sync_files([tmp for tmp, _t, _m in self.pending])
        out = {}
        for tmp, target, _mode in self.pending:
            os.replace(tmp, target)
            out[target] = os.stat(target)
        if len(self.pending) >= SYNCFS_MIN_FILES:
            syncfs(self.pending[0][1].parent)
        else:
            for d in {t.parent for _tmp, t, _m in self.pending}:
                fsync_dir(d)
        self.pending = []
        return out

    def discard(self) -> None:
        for tmp, _t, _m in self.pending:
            _unlink_quiet(tmp)
        self.pending = []

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
