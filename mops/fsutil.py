"""Small filesystem primitives: atomic writes, reflinks, safe relative paths."""

from __future__ import annotations

import errno
import os
from pathlib import Path

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def fsync_dir(path: str | os.PathLike) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def syncfs(path: str | os.PathLike) -> None:
    """Flush the whole filesystem holding ``path`` (one call instead of an fsync per file)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


class Writeback:
    """Start writing a big file's pages to disk while it is still being written.

    Without this the kernel holds every page dirty (up to a tenth of RAM) until the final
    fsync, which then waits for the whole file at once; asking for writeback every
    ``STEP`` bytes (``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which does not wait) lets the
    disk work while the download and the hash go on, so the fsync that makes the file
    durable finds little left to do.  A no-op where the call is not available.
    """

    STEP = 32 << 20
    _call = None

    def __init__(self, fd: int):
        self.fd = fd
        self.done = 0
        self.written = 0
        if Writeback._call is None:
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                fn = libc.sync_file_range
                fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
                Writeback._call = fn
            except (OSError, AttributeError):
                Writeback._call = False

    def advance(self, n: int) -> None:
        self.written += n
        if self.written - self.done >= self.STEP and Writeback._call:
            Writeback._call(self.fd, self.done, self.written - self.done, 2)  # SYNC_FILE_RANGE_WRITE
            self.done = self.written


SYNCFS_MIN_FILES = 64  # below this, fsync each file: syncfs also flushes other programs' dirty data


def sync_files(paths: list[str]) -> None:
    """Make these freshly written files durable: an fsync each for a few, one syncfs for many."""
    if not paths:
        return
    if len(paths) >= SYNCFS_MIN_FILES:
        syncfs(os.path.dirname(paths[0]) or ".")
        return
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def mkstemp_beside(target: str | os.PathLike, suffix: str = ".tmp") -> tuple[int, str]:
    """A temp file in the target's directory, so the final rename never crosses filesystems."""
    d, name = os.path.split(os.fspath(target))
    import tempfile

    return tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=d or ".")


def atomic_write_bytes(target: str | os.PathLike, data: bytes, mode: int = 0o644, sync: bool = True) -> None:
    """Write ``data`` to ``target`` all at once or not at all (temp file, fsync, rename)."""
    fd, tmp = mkstemp_beside(target)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def try_reflink(src_fd: int, dst_fd: int) -> bool:
    """Clone ``src`` into ``dst`` sharing extents (btrfs, XFS, ...). False where unsupported."""
    try:
        import fcntl

        fcntl.ioctl(dst_fd, FICLONE, src_fd)
        return True
    except (OSError, ImportError) as e:
        if isinstance(e, OSError) and e.errno not in (
            errno.EOPNOTSUPP,
            errno.EXDEV,
            errno.EINVAL,
            errno.ENOTTY,
            errno.EBADF,
            errno.ENOSYS,
            errno.EPERM,
        ):
            raise
        return False


def file_mode(st_mode: int) -> str:
    """The bundle's two modes (SPEC §4): executable by anyone → 0755, else 0644."""
    return "0755" if st_mode & 0o111 else "0644"


def is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
