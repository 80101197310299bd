"""External object stores (SPEC §4): where large files live, content-addressed, outside the registry.

An object is stored at ``<storage.url>/sha256/<hex[0:2]>/<hex[2:4]>/<hex>``, so the same bytes
are stored once whatever their path, and an upload of bytes already there is skipped.  One small
blob protocol covers every store (docs/STORAGE.md):

    store = open_store("s3://bucket/prefix", {"endpoint_url": "http://127.0.0.1:9000"})
    store.uri_for(digest)                 # the object's URI, recorded in the bundle config
    store.stat(digest)                    # ObjectInfo(size, etag) or None
    store.upload(digest, size, opener)    # streamed (multipart where the store has it); False = already there
    store.download(digest, size, dest)    # hashed while streamed into a temp file; renamed only when it matches
    store.verify(digest, size, full=...)  # Check(ok, problem): size (+ etag) by default, the digest with full
    run_bounded(fn, items, concurrency)   # the bounded parallel helper for many transfers

``file://`` is served with plain os calls (atomic rename, no fsspec); ``s3://`` (s3fs),
``az://``/``abfs://`` (adlfs) and ``gs://`` (gcsfs) go through fsspec, imported only when used.
Credentials come only from each ecosystem's own environment and profiles; ``options`` carries the
non-secret ``storage.options.*`` settings.  Every failure is a MopsError naming the URI:
unreachable → RemoteUnavailable (3), refused → AuthError (10), wrong or missing bytes →
IntegrityError (11).  No message ever carries a secret (``redact``).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat as statmod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

from .digest import hex_of, parse_digest
from .errors import AuthError, IntegrityError, MopsError, RemoteUnavailable, UsageError
from .fsutil import _unlink_quiet, fsync_dir, mkstemp_beside

READ_CHUNK = 8 << 20  # one ranged GET / one read per 8 MiB: few requests, little memory
PART_SIZE = 8 << 20  # smallest multipart part (S3 needs >= 5 MiB); a part is buffered in memory until sent
S3_IN_FLIGHT = 3 * PART_SIZE  # S3 upload parts on their way at once, in bytes (at least one part): the memory they hold
MAX_PARTS = 9000  # S3 allows 10,000 parts: bigger objects get bigger parts (part_size_for)
SCHEMES = {"file": "file", "s3": "s3", "az": "az", "abfs": "az", "gs": "gs", "gcs": "gs", "memory": "memory"}
_EXTRAS = {"s3": ("s3fs", "s3"), "az": ("adlfs", "azure"), "gs": ("gcsfs", "gcs")}

Opener = Callable[[], BinaryIO]


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str | None = None


@dataclass(frozen=True)
class Check:
    """The result of ``verify``: ``ok``, or ``problem`` says what is wrong (for listing every mismatch)."""

    uri: str
    digest: str
    ok: bool
    problem: str | None = None
    etag: str | None = None


def object_key(digest: str) -> str:
    """``sha256/ab/cd/abcd…``: the object's path below the store URL."""
    h = hex_of(parse_digest(digest))
    return f"sha256/{h[:2]}/{h[2:4]}/{h}"


_URI_RE = re.compile(r"^(?P<store>.+)/sha256/(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/(?P<hex>[0-9a-f]{64})$")


def split_uri(uri: str) -> tuple[str, str]:
    """An object URI from a bundle config → (store URL, digest).  Exit 2 when it is not one."""
    m = _URI_RE.match(uri)
    if not m or m["a"] != m["hex"][:2] or m["b"] != m["hex"][2:4]:
        raise UsageError(f"malformed external object uri {redact(uri)!r}: expected <store-url>/sha256/<ab>/<cd>/<hex>")
    return m["store"], "sha256:" + m["hex"]


def normalize_url(url: str) -> str:
    """Validate a store URL as config does (no query string, no credentials) and drop a trailing ``/``."""
    from .config import parse_storage_url

    try:
        return parse_storage_url(url)
    except ValueError as e:
        raise UsageError(f"invalid store url {redact(url)!r}: {e}", hint="see docs/STORAGE.md") from None


def options_for(config, url: str) -> dict[str, str]:
    """The ``storage.options.*`` of ``config`` when ``url`` is the configured store (same scheme and
    bucket/container), else ``{}``: an endpoint set for one store must not leak to another."""
    configured = config.get("storage.url")
    if not configured:
        return {}

    def head(u: str) -> tuple[str, str]:
        scheme, _, rest = u.partition("://")
        return SCHEMES.get(scheme, scheme), rest.split("/", 1)[0] if scheme != "file" else ""

    if head(configured) != head(url):
        return {}
    return dict(config.section("storage.options."))


def open_store(url: str, options: dict[str, Any] | None = None) -> ExternalStore:
    """The store at ``url`` (file://, s3://, az://, abfs://, gs://), with non-secret fsspec ``options``."""
    url = normalize_url(url)
    scheme, _, rest = url.partition("://")
    kind = SCHEMES[scheme]
    opts = {k: _coerce(v) for k, v in (options or {}).items()}
    if kind == "file":
        if opts:
            raise UsageError(f"storage.options.* do not apply to a file:// store ({url})", hint="mops config unset the storage.options keys")
        if not rest.startswith("/"):
            raise UsageError(f"invalid store url {url!r}: a file store needs an absolute path (file:///DIR)")
        return LocalStore(url, Path(unquote(rest)))
    return FsspecStore(url, kind, rest, opts)


def _coerce(v: Any) -> Any:
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


# -- errors ------------------------------------------------------------------------------------------

_SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_CLIENT_SECRET",
)
_KV_SECRET = re.compile(
    r"(?i)\b(AccountKey|SharedAccessSignature|sig|signature|token|password|secret|x-amz-security-token|"
    r"x-amz-signature|x-amz-credential|credential|access_token)=([^;&\s'\"]+)"
)
_URL_QUERY = re.compile(r"((?:https?|s3|az|abfs|gs|gcs|file)://[^\s?'\"]*)\?[^\s'\"]*")
_USERINFO = re.compile(r"(://)[^/@\s'\"]+@")


def redact(text: str) -> str:
    """``text`` with anything secret-looking replaced: query strings, key=value secrets, user:pass@,
    and the values of the standard credential variables of this process's environment."""
    out = _URL_QUERY.sub(r"\1?<redacted>", text)
    out = _KV_SECRET.sub(lambda m: f"{m.group(1)}=<redacted>", out)
    out = _USERINFO.sub(r"\1<redacted>@", out)
    for var in _SECRET_ENV:
        val = os.environ.get(var)
        if not val:
            continue
        parts = [val] + ([p.split("=", 1)[1] for p in val.split(";") if "=" in p] if var.endswith("CONNECTION_STRING") else [])
        for p in parts:
            if len(p) >= 8:
                out = out.replace(p, "<redacted>")
    return out


_AUTH_NAMES = {
    "PermissionError",
    "ClientAuthenticationError",
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "DefaultCredentialsError",
    "RefreshError",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
}
_UNAVAILABLE_NAMES = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ServiceRequestError",
    "ServiceResponseError",
    "ClientConnectorError",
    "ClientConnectionError",
    "ServerDisconnectedError",
    "ClientOSError",
    "ServerTimeoutError",
    "FSTimeoutError",
    "TimeoutError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "TransportError",
    "gaierror",
}


def _status_of(e: BaseException) -> int | None:
    for attr in ("status_code", "status", "code"):
        v = getattr(e, attr, None)
        if isinstance(v, int) and 100 <= v < 600:
            return v
    resp = getattr(e, "response", None)
    if isinstance(resp, dict):
        v = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(v, int):
            return v
    return None


def _chain(e: BaseException) -> Iterator[BaseException]:
    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def classify(e: BaseException) -> str | None:
    """``"auth"``, ``"unavailable"``, ``"missing"`` or None (unknown) for an exception of any backend."""
    for exc in _chain(e):
        names = {c.__name__ for c in type(exc).__mro__}
        code = _status_of(exc)
        text = str(exc)
        if names & _AUTH_NAMES or code in (401, 403) or any(n in text for n in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationFailure")):
            return "auth"
        if names & _UNAVAILABLE_NAMES or (code is not None and code >= 500):
            return "unavailable"
        if "FileNotFoundError" in names or code == 404:
            return "missing"
        if isinstance(exc, OSError) and exc.errno is not None and exc.errno in _UNAVAILABLE_ERRNOS:
            return "unavailable"
    return None


def _errno_set() -> set[int]:
    import errno

    return {errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOTCONN}


_UNAVAILABLE_ERRNOS = _errno_set()


def _cause(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    text = redact(text.strip().splitlines()[0] if text.strip() else text)
    return text if len(text) <= 300 else text[:297] + "..."


_CRED_HINT = (
    "credentials come from the store's standard environment: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
    "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME + AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_SAS_TOKEN), "
    "GOOGLE_APPLICATION_CREDENTIALS; see docs/STORAGE.md"
)
_NET_HINT = "check storage.url, the network, and storage.options.endpoint_url for S3-compatible stores; see docs/STORAGE.md"


def translate(e: BaseException, uri: str, action: str) -> MopsError:
    """A backend exception as the MopsError a user can act on (the URI is named, secrets are not)."""
    kind = classify(e)
    if kind == "auth":
        return AuthError(f"access refused by the external store while trying to {action} {uri} ({_cause(e)})", hint=_CRED_HINT)
    if kind == "unavailable":
        return RemoteUnavailable(f"external store unavailable while trying to {action} {uri} ({_cause(e)})", hint=_NET_HINT)
    if kind == "missing":
        return IntegrityError(
            f"{uri} is missing from the external store",
            hint="push the bundle again from a project that has the file (mops push) so the object is re-uploaded",
        )
    # anything else from a backend: still name the URI, still without secrets
    return RemoteUnavailable(f"external store failed while trying to {action} {uri} ({_cause(e)})", hint=_NET_HINT)


class _SourceFailure(Exception):
    """An error reading the *source* of an upload: re-raised unchanged, it is not the store's fault
    (a ConflictError from a worktree file edited since it was staged keeps its exit code)."""

    def __init__(self, original: BaseException):
        super().__init__(str(original))
        self.original = original


@contextmanager
def _backend_errors(uri: str, action: str):
    try:
        yield
    except _SourceFailure as e:
        raise e.original from None
    except MopsError:
        raise
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as e:
        raise translate(e, uri, action) from None


# -- the stores --------------------------------------------------------------------------------------


class ExternalStore:
    """Operations common to every store; subclasses supply the five primitives below."""

    def __init__(self, url: str):
        self.url = url
        self.name = url  # how messages name the store (Target-compatible)

    # primitives -------------------------------------------------------------------------
    def _stat(self, key: str) -> ObjectInfo | None:
        raise NotImplementedError

    def _open_read(self, key: str) -> BinaryIO:
        raise NotImplementedError

    def _write(self, key: str, digest: str, size: int, opener: Opener, progress=None) -> None:
        raise NotImplementedError

    def _delete(self, key: str) -> None:
        raise NotImplementedError

    def _list_keys(self) -> Iterator[str]:
        raise NotImplementedError

    # the blob protocol ---------------------------------------------------------------------
    def uri_for(self, digest: str) -> str:
        return f"{self.url}/{object_key(digest)}"

    def stat(self, digest: str) -> ObjectInfo | None:
        """Size and etag of the object, or None when the store does not have it."""
        uri = self.uri_for(digest)
        with _backend_errors(uri, "check"):
            return self._stat(object_key(digest))

    def has(self, digest: str, size: int) -> bool:
        info = self.stat(digest)
        return info is not None and info.size == size

    def upload(self, digest: str, size: int, opener: Opener, progress=None) -> bool:
        """Stream the bytes ``opener()`` yields to the store; False (nothing moved) when the object is
        already there with this size.  The bytes are hashed on the way: if they do not hash to
        ``digest`` the upload is abandoned (nothing becomes visible) with IntegrityError."""
        digest = parse_digest(digest)
        if self.has(digest, size):
            return False
        uri = self.uri_for(digest)
        with _backend_errors(uri, "upload"):
            self._write(object_key(digest), digest, size, opener, progress)
        return True

    def open(self, digest: str) -> BinaryIO:
        """A raw reader of the object (the caller verifies what it reads; ``download`` does)."""
        uri = self.uri_for(digest)
        with _backend_errors(uri, "download"):
            return _ErrorMappingReader(self._open_read(object_key(digest)), uri)

    def download(self, digest: str, size: int, dest: str | os.PathLike, mode: str = "0644", progress=None) -> os.stat_result:
        """Write the object to ``dest``: streamed into a temp file beside it while hashed, fsynced,
        and renamed into place only when digest and size match (else IntegrityError, exit 11).
        Whatever fails, no partial file is left; ``dest``'s directory must exist."""
        digest = parse_digest(digest)
        uri = self.uri_for(digest)
        dest = Path(dest)
        fd, tmp = mkstemp_beside(dest)
        try:
            with os.fdopen(fd, "wb") as out:
                got, n = self._copy_hashed(digest, size, uri, out.write, progress)
                if got != digest or n != size:
                    raise _mismatch(uri, digest, size, got, n)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o755 if mode == "0755" else 0o644)
            os.replace(tmp, dest)
        except BaseException:
            _unlink_quiet(tmp)
            raise
        return os.stat(dest)

    def verify(self, digest: str, size: int, full: bool = False, etag: str | None = None) -> Check:
        """Check the object without keeping its bytes: existence and size (and ``etag``, when one
        was recorded and the store gives one) by default; with ``full`` its sha256 as well.
        Mismatches are returned (``ok`` False, ``problem`` says what), so a caller can list them all;
        an unreachable or refusing store still raises."""
        digest = parse_digest(digest)
        uri = self.uri_for(digest)
        info = self.stat(digest)
        if info is None:
            return Check(uri, digest, False, "missing from the store")
        if info.size != size:
            return Check(uri, digest, False, f"size {info.size}, expected {size}", info.etag)
        if etag is not None and info.etag is not None and etag != info.etag:
            return Check(uri, digest, False, f"changed since it was recorded (etag {info.etag}, recorded {etag})", info.etag)
        if full:
            got, n = self._copy_hashed(digest, size, uri, None, None)
            if got != digest or n != size:
                return Check(uri, digest, False, f"content hashes to {got} ({n} bytes)", info.etag)
        return Check(uri, digest, True, None, info.etag)

    def delete(self, digest: str) -> None:
        uri = self.uri_for(digest)
        with _backend_errors(uri, "delete"):
            self._delete(object_key(digest))

    def digests(self) -> Iterator[str]:
        """Every object digest in the store (for ``gc --remote``)."""
        with _backend_errors(self.url, "list"):
            for key in self._list_keys():
                name = key.rsplit("/", 1)[-1]
                if re.fullmatch(r"[0-9a-f]{64}", name):
                    yield "sha256:" + name

    # Target-style names, so the copy algorithm can treat a store like any blob destination
    def blob_size(self, digest: str) -> int | None:
        info = self.stat(digest)
        return None if info is None else info.size

    def fetch_blob(self, digest: str, size: int | None = None) -> BinaryIO:
        return self.open(digest)

    def push_blob(self, digest: str, size: int, opener: Opener) -> None:
        self.upload(digest, size, opener)

    # helpers --------------------------------------------------------------------------------
    def _copy_hashed(self, digest: str, size: int, uri: str, sink, progress) -> tuple[str, int]:
        h = hashlib.sha256()
        n = 0
        with _backend_errors(uri, "download"):
            src = self._open_read(object_key(digest))
            try:
                while True:
                    chunk = src.read(READ_CHUNK)
                    if not chunk:
                        break
                    n += len(chunk)
                    if n > size:  # a longer object is wrong already: stop reading it
                        return "sha256:" + h.hexdigest(), n
                    h.update(chunk)
                    if sink is not None:
                        sink(chunk)
                    if progress is not None:
                        progress.advance(len(chunk))
            finally:
                src.close()
        return "sha256:" + h.hexdigest(), n

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def _mismatch(uri: str, digest: str, size: int, got: str, n: int) -> IntegrityError:
    what = f"{n} bytes, expected {size}" if n != size else f"content hashes to {got}"
    return IntegrityError(
        f"{uri} does not match {digest} ({what}); nothing was written",
        hint="the object in the store was changed or damaged: delete it and push the bundle again from a project that has the file",
    )


class _ErrorMappingReader:
    """A backend reader whose errors come out as MopsErrors naming the URI."""

    def __init__(self, f, uri: str):
        self._f, self._uri = f, uri

    def read(self, n: int = -1) -> bytes:
        with _backend_errors(self._uri, "download"):
            return self._f.read(n)

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._f.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pump(digest: str, size: int, opener: Opener, write, progress) -> None:
    """Read everything from ``opener()`` into ``write``, hashing; IntegrityError if it is not ``digest``."""
    h = hashlib.sha256()
    n = 0
    try:
        src = opener()
    except Exception as e:
        raise _SourceFailure(e) from e
    try:
        while True:
            try:
                chunk = src.read(READ_CHUNK)
            except Exception as e:
                raise _SourceFailure(e) from e
            if not chunk:
                break
            h.update(chunk)
            write(chunk)
            n += len(chunk)
            if progress is not None:
                progress.advance(len(chunk))
    finally:
        src.close()
    got = "sha256:" + h.hexdigest()
    if got != digest or n != size:
        raise IntegrityError(f"upload of {digest} abandoned: the source gave {n} bytes hashing to {got} (expected {size} bytes)")


class LocalStore(ExternalStore):
    """``file:///DIR``: a directory (local disk or a mounted share), written with temp file + rename."""

    def __init__(self, url: str, root: Path):
        super().__init__(url)
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    def _stat(self, key: str) -> ObjectInfo | None:
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not statmod.S_ISREG(st.st_mode):
            return None
        # a pseudo-etag: any rewrite of the file changes it, as a store's etag would
        return ObjectInfo(st.st_size, f"{st.st_mtime_ns:x}-{st.st_ino:x}-{st.st_size:x}")

    def _open_read(self, key: str) -> BinaryIO:
        p = self._path(key)
        try:
            return open(p, "rb")
        except FileNotFoundError:
            if not self.root.is_dir():
                raise RemoteUnavailable(
                    f"external store unavailable: {self.url} does not exist (needed for {self.url}/{key})",
                    hint="is the directory mounted? check storage.url",
                ) from None
            raise

    def _write(self, key: str, digest: str, size: int, opener: Opener, progress=None) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = mkstemp_beside(target)
        try:
            with os.fdopen(fd, "wb") as out:
                _pump(digest, size, opener, out.write, progress)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)  # content-addressed: never modified in place
            os.replace(tmp, target)
        except BaseException:
            _unlink_quiet(tmp)
            raise
        fsync_dir(target.parent)

    def _delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def _list_keys(self) -> Iterator[str]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                yield os.path.relpath(os.path.join(dirpath, f), self.root).replace(os.sep, "/")


class FsspecStore(ExternalStore):
    """s3://, az:// (abfs://), gs:// — and memory:// for experiments — through fsspec."""

    def __init__(self, url: str, kind: str, rest: str, options: dict[str, Any]):
        super().__init__(url)
        self.kind = kind
        self.prefix = rest.strip("/")
        if kind != "memory" and not self.prefix.split("/", 1)[0]:
            raise UsageError(f"invalid store url {url!r}: no bucket or container")
        self.options = options
        self._fs = None

    @property
    def fs(self):
        if self._fs is None:
            with _backend_errors(self.url, "connect to"):
                _preflight(self.url, _explicit_endpoint(self.kind, self.options))
                self._fs = _make_filesystem(self.kind, self.options)
        return self._fs

    def _path(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _stat(self, key: str) -> ObjectInfo | None:
        try:
            info = self.fs.info(self._path(key))
        except FileNotFoundError:
            return None
        if info.get("type", "file") != "file":
            return None
        etag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
        return ObjectInfo(int(info["size"]), str(etag).strip('"') if etag else None)

    def _open_read(self, key: str) -> BinaryIO:
        if self.kind == "s3":
            # one GET whose body is streamed: ranged GETs cost a request (and on some servers a
            # copy of the whole object) per chunk
            return _AsyncStreamReader(self.fs, self.fs.open_async(self._path(key), "rb"))
        # no read-ahead cache: each read(READ_CHUNK) is one ranged request, memory stays at one chunk
        return self.fs.open(self._path(key), "rb", block_size=READ_CHUNK, cache_type="none")

    def _write(self, key: str, digest: str, size: int, opener: Opener, progress=None) -> None:
        path = self._path(key)
        if self.kind == "memory":  # memory files commit whenever they are closed: verify first
            import io

            buf = io.BytesIO()
            _pump(digest, size, opener, buf.write, progress)
            self.fs.pipe_file(path, buf.getvalue())
            return
        if self.kind == "s3":
            _s3_upload(self.fs, path, digest, size, opener, progress)
            self.fs.invalidate_cache(path)
            return
        f = self.fs.open(path, "wb", block_size=part_size_for(size))
        done = False
        try:
            _pump(digest, size, opener, f.write, progress)
            f.close()  # completes the (multipart) upload: the object appears only now
            done = True
        finally:
            if not done:
                _abandon(f)
        self.fs.invalidate_cache(path)

    def _delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass

    def _list_keys(self) -> Iterator[str]:
        base = self._path("sha256")
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return
        prefix = self.prefix.lstrip("/")
        cut = len(prefix) + 1 if prefix else 0
        for p in found:
            yield p.lstrip("/")[cut:]


def part_size_for(size: int) -> int:
    """The multipart part size for an object of ``size`` bytes: PART_SIZE, or more for objects that
    would otherwise need more than MAX_PARTS parts (rounded up to whole MiB)."""
    need = -(-size // MAX_PARTS)
    return max(PART_SIZE, -(-need // (1 << 20)) << 20)


def _s3_upload(fs, path: str, digest: str, size: int, opener: Opener, progress=None) -> None:
    """Stream ``opener()``'s bytes to S3 as a multipart upload whose parts are sent while the next
    ones are read and hashed: up to S3_IN_FLIGHT bytes of parts (three parts of a 1 GiB object,
    fewer of huge objects' bigger parts, never less than one) are on their way at once, each held
    in memory until its request completes, while the source waits.  The upload is completed
    only after the whole source hashed to ``digest``; any failure aborts it, so nothing appears.

    (s3fs' buffered file sends one part at a time and reads nothing meanwhile: the store idles
    while the source is read and hashed, and the source while the store takes a part.)"""
    import asyncio
    import io
    from collections import deque
    from concurrent.futures import wait as wait_futures

    from fsspec.asyn import sync

    bucket, key, _version = fs.split_path(path)
    part_size = part_size_for(size)
    max_inflight = max(1, S3_IN_FLIGHT // part_size)
    if size < part_size:  # one request
        chunks: list[bytes] = []
        _pump(digest, size, opener, chunks.append, progress)
        sync(fs.loop, fs._call_s3, "put_object", Bucket=bucket, Key=key, Body=b"".join(chunks))
        return
    upload_id = sync(fs.loop, fs._call_s3, "create_multipart_upload", Bucket=bucket, Key=key)["UploadId"]
    inflight: deque = deque()  # (part number, concurrent future) in part order
    done: list[dict] = []
    # The part being filled.  A BytesIO that owns its buffer is sent without a copy (a bytes body
    # is copied into one by the HTTP layer), so a part costs its size in memory once.
    buf = io.BytesIO()

    def finished(number: int, fut) -> None:
        out = fut.result()  # re-raises the part's failure
        part = {"PartNumber": number, "ETag": out["ETag"]}
        if "ChecksumSHA256" in out:
            part["ChecksumSHA256"] = out["ChecksumSHA256"]
        done.append(part)

    def send() -> None:
        nonlocal buf
        body, buf = buf, io.BytesIO()
        body.seek(0)
        while len(inflight) >= max_inflight:
            finished(*inflight.popleft())
        number = len(done) + len(inflight) + 1
        coro = fs._call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        inflight.append((number, asyncio.run_coroutine_threadsafe(coro, fs.loop)))

    def write(chunk: bytes) -> None:
        buf.write(chunk)
        if buf.tell() >= part_size:  # parts of part_size .. part_size + READ_CHUNK: within the part limit
            send()

    try:
        _pump(digest, size, opener, write, progress)  # raises before completion if the bytes are wrong
        if buf.tell():
            send()
        while inflight:
            finished(*inflight.popleft())
        sync(fs.loop, fs._call_s3, "complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id,
             MultipartUpload={"Parts": done})
    except BaseException:
        futs = [f for _n, f in inflight]
        for f in futs:
            f.cancel()
        wait_futures(futs, timeout=30)
        try:
            sync(fs.loop, fs._call_s3, "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:
            pass  # the store's lifecycle rules reclaim what an abort could not
        raise


class _AsyncStreamReader:
    """A blocking reader over an fsspec async streamed file (``open_async``), driven on the
    filesystem's own event loop; each ``read(n)`` returns n bytes unless the stream ends."""

    def __init__(self, fs, coro):
        from fsspec.asyn import sync

        self._sync = sync
        self._loop = fs.loop
        self._f = sync(self._loop, _await, coro)

    def read(self, n: int = -1) -> bytes:
        return self._sync(self._loop, _fill, self._f, n)

    def close(self) -> None:
        r = getattr(self._f, "r", None)
        if r is not None and hasattr(r, "close"):
            try:
                r.close()
            except Exception:
                pass


async def _await(coro):
    return await coro


async def _fill(f, n: int) -> bytes:
    if n is None or n < 0:
        return await f.read(-1)
    parts, got = [], 0
    while got < n:
        b = await f.read(n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _abandon(f) -> None:
    """Cancel a half-written upload without committing it (closing would publish partial bytes)."""
    try:
        f.discard()
    except Exception:
        pass
    try:
        f.closed = True
    except Exception:
        pass


def _explicit_endpoint(kind: str, options: dict[str, Any]) -> str | None:
    """The endpoint a user pointed the store at (emulators, S3-compatible servers), if any."""
    if kind == "s3":
        return options.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if kind == "gs":
        return options.get("endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST")
    if kind == "az":
        if options.get("account_host"):
            return "https://" + str(options["account_host"])
        conn = options.get("connection_string") or os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or ""
        for part in conn.split(";"):
            k, _, v = part.partition("=")
            if k.strip().lower() == "blobendpoint" and v:
                return v.strip()
    return None


def _preflight(url: str, endpoint: str | None, timeout: float = 5.0) -> None:
    """One TCP connect to an explicit endpoint, so "nothing listens there" fails in milliseconds
    instead of after a backend's minute of retries (gcsfs's retry count is fixed at 6, with backoff)."""
    if not endpoint:
        return
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
    if not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as e:
        where = f"{parts.scheme}://{parts.hostname}:{port}"
        raise RemoteUnavailable(
            f"external store unavailable: {url} (cannot connect to {where}: {e.strerror or type(e).__name__})",
            hint=_NET_HINT,
        ) from None


def _bound_azure_retries(fs) -> None:
    """azure-storage-blob waits 15 s, 18 s, 24 s between retries; keep the whole at about ten seconds."""
    try:
        policy = fs.service_client._config.retry_policy
        policy.initial_backoff, policy.increment_base, policy.random_jitter_range = 1, 2, 1
        policy.total_retries, policy.connect_retries = 3, 2
    except AttributeError:
        pass


def _make_filesystem(kind: str, options: dict[str, Any]):
    """An fsspec filesystem for ``kind`` with timeouts and retries bounded, credentials from the environment."""
    if kind in _EXTRAS:
        module, extra = _EXTRAS[kind]
        import importlib.util

        if importlib.util.find_spec(module) is None:
            raise UsageError(
                f"{kind}:// stores need the {module} package, which is not installed",
                hint=f"pip install 'mops[{extra}]'",
            )
    import fsspec

    opts = dict(options)
    # a fresh instance: credentials are read from the environment now, not from a cached instance
    opts.setdefault("skip_instance_cache", True)
    if kind == "s3":
        region = opts.pop("region", None) or opts.pop("region_name", None)
        client_kwargs = {"region_name": region} if region else {}
        opts.setdefault("use_listings_cache", False)
        opts["client_kwargs"] = client_kwargs
        opts["config_kwargs"] = {
            "connect_timeout": 10,
            "read_timeout": 60,
            "retries": {"max_attempts": 3, "mode": "standard"},
        }
        fs = fsspec.filesystem("s3", **opts)
        fs.retries = 3  # s3fs's own retry loop (on top of botocore's), a class attribute
        return fs
    if kind == "az":
        opts.setdefault("use_listings_cache", False)
        opts.setdefault("connection_timeout", 10)
        opts.setdefault("read_timeout", 60)
        fs = fsspec.filesystem("az", **opts)
        _bound_azure_retries(fs)
        return fs
    if kind == "gs":
        # Must be set before gcsfs is first imported, or every call waits on an experimental probe.
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        if os.environ.get("STORAGE_EMULATOR_HOST") and "token" not in opts and not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
            opts["token"] = "anon"  # an emulator takes no credentials; never probe a metadata server for them
        opts.setdefault("use_listings_cache", False)
        opts.setdefault("requests_timeout", 60)
        return fsspec.filesystem("gs", **opts)
    return fsspec.filesystem(kind, **opts)


# -- many transfers -----------------------------------------------------------------------------------


from .copy import run_bounded  # noqa: E402,F401  (re-exported: one bounded pool for registry and store transfers)

# -- remembered etags ---------------------------------------------------------------------------------


class EtagBook:
    """uri → (size, etag) remembered after an upload, a download or a full verify, so a later plain
    ``verify`` notices an object that was rewritten with bytes of the same size.  A JSON file;
    losing it loses nothing but that check."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._data: dict[str, list] | None = None

    def _load(self) -> dict[str, list]:
        if self._data is None:
            import json

            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._data = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def get(self, uri: str, size: int) -> str | None:
        rec = self._load().get(uri)
        if isinstance(rec, list) and len(rec) == 2 and rec[0] == size and isinstance(rec[1], str):
            return rec[1]
        return None

    def record(self, uri: str, size: int, etag: str | None) -> None:
        if etag:
            self._load()[uri] = [size, etag]

    def save(self) -> None:
        import json

        from .fsutil import atomic_write_bytes

        if self._data is not None:
            atomic_write_bytes(self.path, json.dumps(self._data, sort_keys=True).encode("utf-8"), sync=False)
