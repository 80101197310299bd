"""An OCI image layout directory as a Target (``oci:PATH``): the embedded default remote.

Layout (OCI image-spec "image-layout"): ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``.
Tags are ``org.opencontainers.image.ref.name`` annotations on index.json entries, so
``skopeo copy oci:PATH:TAG ...`` and ``oras pull --oci-layout PATH:TAG`` read what mops writes.
index.json is rewritten atomically under a lock file, so concurrent pushes never lose a tag.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from . import digest as dg
from .bundle import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from .errors import IntegrityError, NotFound, UsageError
from .fsutil import SYNCFS_MIN_FILES, _unlink_quiet, atomic_write_bytes, fsync_dir, mkstemp_beside, sync_files, syncfs

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT = {"imageLayoutVersion": "1.0.0"}


class OCILayoutTarget:
    def __init__(self, path: str | os.PathLike, create: bool = True):
        self.path = Path(path)
        self.name = f"oci:{self.path}"
        self._created = False
        self._thread_lock = threading.Lock()
        self._pending: dict[str, str] = {}  # digest → temp file awaiting flush()
        if not create and not (self.path / "oci-layout").exists():
            raise NotFound(f"{self.name} is not an OCI image layout (no oci-layout file)")

    # -- layout ----------------------------------------------------------------------------
    def _ensure(self) -> None:
        """Create the layout on first write (under the layout's lock: pushes may race)."""
        if self._created:
            return
        with self._thread_lock:
            if self._created:
                return
            if not (self.path / "oci-layout").exists():
                if self.path.exists() and not self.path.is_dir():
                    raise UsageError(f"{self.name}: not a directory")
                self.path.mkdir(parents=True, exist_ok=True)
                with self._lock():
                    if not (self.path / "oci-layout").exists():
                        if any(n not in (".index.json.lock", "blobs", "index.json") for n in os.listdir(self.path)):
                            raise UsageError(f"{self.name}: directory exists and is not an OCI image layout")
                        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
                        if not (self.path / "index.json").exists():
                            self._write_index({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []})
                        atomic_write_bytes(self.path / "oci-layout", json.dumps(LAYOUT).encode())
            self._created = True

    def _blob(self, digest: str) -> Path:
        return self.path / "blobs" / "sha256" / dg.hex_of(digest)

    def _read_index(self) -> dict:
        try:
            data = json.loads((self.path / "index.json").read_bytes())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        except ValueError:
            raise UsageError(f"{self.name}/index.json is not valid JSON") from None
        if not isinstance(data.get("manifests"), list):
            raise UsageError(f"{self.name}/index.json has no manifests list")
        return data

    def _write_index(self, idx: dict) -> None:
        atomic_write_bytes(self.path / "index.json", json.dumps(idx, indent=2, sort_keys=True).encode() + b"\n")

    @contextmanager
    def _lock(self):
        """An exclusive lock on the layout directory itself (flock on its fd): concurrent pushes
        serialise their index.json rewrites, and no lock file is left in the layout."""
        import fcntl

        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the fd releases the lock

    # -- Target ----------------------------------------------------------------------------
    def blob_size(self, digest: str) -> int | None:
        if digest in self._pending:
            return os.path.getsize(self._pending[digest])
        try:
            return self._blob(digest).stat().st_size
        except FileNotFoundError:
            return None

    def fetch_blob(self, digest: str, size: int | None = None) -> BinaryIO:
        try:
            return open(self._blob(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in {self.name}") from None

    def push_blob(self, digest: str, size: int, opener: Callable[[], BinaryIO]) -> None:
        self._ensure()
        final = self._blob(digest)
        if final.exists() or digest in self._pending:
            return
        import hashlib

        fd, tmp = mkstemp_beside(final)
        h = hashlib.sha256()
        n = 0
        try:
            with os.fdopen(fd, "wb") as out, opener() as src:
                while chunk := src.read(dg.CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    n += len(chunk)
            if "sha256:" + h.hexdigest() != digest or n != size:
                raise IntegrityError(f"blob for {digest} hashed to sha256:{h.hexdigest()} ({n} bytes): refusing it")
            os.chmod(tmp, 0o644)
            # made durable and visible together by flush(): one filesystem sync per push, not
            # one fsync per blob; a crash before it leaves only temp files, never a bad blob
            with self._thread_lock:
                self._pending[digest] = tmp
        except BaseException:
            _unlink_quiet(tmp)
            raise

    def flush(self) -> None:
        """Make the blobs pushed so far durable, then visible (syncfs, rename, syncfs)."""
        with self._thread_lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        sync_files(list(pending.values()))
        for digest, tmp in pending.items():
            os.replace(tmp, self._blob(digest))
        if len(pending) >= SYNCFS_MIN_FILES:
            syncfs(self.path)
        else:
            fsync_dir(self.path / "blobs" / "sha256")

    def resolve(self, ref: str) -> tuple[str, bytes]:
        if dg.is_digest(ref):
            digest = ref
        else:
            digest = None
            for m in self._read_index()["manifests"]:
                if (m.get("annotations") or {}).get(REF_NAME) == ref:
                    digest = m.get("digest")
            if digest is None:
                raise NotFound(f"tag {ref!r} not found in {self.name}")
        try:
            data = self._blob(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"manifest {digest} not found in {self.name}") from None
        if dg.of_bytes(data) != digest:
            raise IntegrityError(f"manifest {digest} in {self.name} is corrupt")
        return digest, data

    def put_manifest(self, data: bytes, digest: str, tag: str | None = None) -> None:
        self._ensure()
        self.flush()
        if dg.of_bytes(data) != digest:
            raise IntegrityError(f"manifest bytes do not hash to {digest}")
        final = self._blob(digest)
        if not final.exists():
            atomic_write_bytes(final, data)
        with self._lock():
            idx = self._read_index()
            entries = idx["manifests"]
            if tag is None:
                if not any(m.get("digest") == digest for m in entries):
                    entries.append({"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest, "size": len(data)})
            else:
                # one entry per tag (as skopeo writes them); an untagged entry of the same
                # manifest is replaced by the tagged one
                entries[:] = [
                    m for m in entries
                    if (m.get("annotations") or {}).get(REF_NAME) != tag
                    and not (m.get("digest") == digest and not (m.get("annotations") or {}).get(REF_NAME))
                ]
                entries.append({"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest, "size": len(data),
                                "annotations": {REF_NAME: tag}})
            self._write_index(idx)

    def tags(self) -> list[str]:
        if not (self.path / "oci-layout").exists():
            raise NotFound(f"{self.name} is not an OCI image layout (no oci-layout file)")
        return sorted({(m.get("annotations") or {}).get(REF_NAME) for m in self._read_index()["manifests"]} - {None})

    def manifests(self) -> list[str]:
        return [m["digest"] for m in self._read_index()["manifests"]]

    def delete_blob(self, digest: str) -> None:
        _unlink_quiet(str(self._blob(digest)))

    def blobs(self) -> list[str]:
        d = self.path / "blobs" / "sha256"
        return sorted("sha256:" + n for n in os.listdir(d) if len(n) == 64) if d.is_dir() else []
