"""A registry over HTTP(S) as a ``Target`` (OCI distribution spec, tested against distribution 2.8).

Why not oras-py for the transfers: it reads whole blobs into memory, verifies nothing it pulls, moves
one blob at a time, and its retry decorator sleeps through ~131 s before giving up on a dead registry.
This module speaks the distribution API over ``requests`` directly:

- Streaming both ways, 1 MiB at a time, hashing while uploading; uploads above ``chunk_size`` go in
  chunks (POST, PATCH with ``Content-Range``, PUT ``?digest=``), with a monolithic fallback (POST + PUT)
  for registries that refuse chunks.  Downloads resume with ``Range`` after a dropped connection.
- Thread-safe: one ``requests.Session`` per thread (connections are reused within a thread and never
  shared across threads); the authenticator and its token cache are shared under a lock.
- Retries with exponential backoff and jitter on connection errors, 429 and 5xx, bounded by
  ``timeout`` seconds *without progress*: every attempt's connect and read timeouts are capped by what
  is left of that budget, so a dead registry costs at most ``timeout`` seconds (plus one backoff step),
  and bytes flowing push the deadline forward, so a long healthy transfer is never cut short.  Then
  ``RemoteUnavailable`` (exit 3) naming the registry.
- Auth (``mops.auth``): anonymous, Basic, Bearer tokens.  401/403 → ``AuthError`` (exit 10).
  Messages never contain credentials or upload-session query strings.
- Plain HTTP only for localhost / 127.0.0.0/8 / ::1 or with ``insecure=True``; HTTPS otherwise.

Nothing of oras-py is imported: the pieces it could lend (reference parsing, header parsing) are a
few lines each, and importing it costs more than they do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from . import digest as dg
from .auth import Authenticator, redact
from .errors import AuthError, IntegrityError, MopsError, NotFound, RemoteUnavailable, UsageError

log = logging.getLogger("mops.registry")

MiB = 1024 * 1024
MIN_CHUNK = 1 * MiB
IO_CHUNK = 1 * MiB  # bytes read from a source or a response at a time
PIPELINE_MIN = 4 * MiB  # upload bodies above this are read and hashed by a helper thread
PIPELINE_DEPTH = 4  # chunks read ahead of the socket (memory: PIPELINE_DEPTH × IO_CHUNK per upload)
MAX_MANIFEST = 16 * MiB  # distribution refuses manifests above 4 MiB; read no more than this into memory
CONNECT_TIMEOUT = 10.0
BACKOFF_FIRST, BACKOFF_CAP = 0.25, 8.0

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_ACCEPT = ", ".join(MANIFEST_TYPES)


def is_local_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 and ::1, with or without a port."""
    h = host.lower()
    if h.startswith("["):
        h = h[1:].split("]", 1)[0]
    elif h.count(":") == 1:
        h = h.rsplit(":", 1)[0]
    return h in ("localhost", "::1") or h.startswith("127.")


class _Transient(Exception):
    """A failure worth retrying (not raised to users)."""

    def __init__(self, why: str, retry_after: float | None = None):
        super().__init__(why)
        self.why, self.retry_after = why, retry_after


class _SourceFailed(Exception):
    """Carries an exception raised by the caller's reader through requests/urllib3 unchanged."""

    def __init__(self, original: BaseException):
        super().__init__(str(original))
        self.original = original


class _ChunkedRefused(Exception):
    pass


class _Budget:
    """``timeout`` seconds without progress; progress (bytes moved, a chunk stored) resets the clock."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.start = time.monotonic()
        self.deadline = self.start + timeout
        self.attempts = 0
        self.last_error = ""

    def progress(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def backoff(self, failure: _Transient) -> bool:
        """Sleep before the next attempt; False when the budget is spent (give up)."""
        self.attempts += 1
        self.last_error = failure.why
        delay = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (self.attempts - 1)) * random.uniform(0.5, 1.0)
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, BACKOFF_CAP * 4))
        left = self.remaining()
        if left <= 0.05:
            return False
        time.sleep(min(delay, left))
        return self.remaining() > 0.05


class _Body:
    """An upload body: ``length`` bytes pulled from ``src`` 1 MiB at a time, hashed on the way.

    Iterable with a length, so requests sends ``Content-Length`` and urllib3 hands each chunk to
    ``sendall`` without copying.  A short source raises IntegrityError instead of leaving the
    server waiting for bytes that never come.  ``hasher`` is None when the source checks the
    digest itself (``verifies_digest``): the bytes are then hashed once, not twice.

    Above ``PIPELINE_MIN`` bytes a helper thread reads (and hashes) the next chunks while the
    current one is being sent: reading, hashing and ``sendall`` all release the GIL, so an upload
    costs the slower of the two sides instead of their sum (hashing inline cost ~0.7 s per GiB
    of wall time, measured against a local registry; see docs/PERFORMANCE.md).
    """

    def __init__(self, src: BinaryIO, length: int, budget: _Budget, hasher, what: str):
        self.src, self.length, self.budget, self.hasher, self.what = src, length, budget, hasher, what
        self.sent = 0
        self.used = False
        self._stop: threading.Event | None = None
        self._free = None
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        if self.used:  # a re-send after a 401 cannot replay consumed bytes: restart the upload instead
            raise _SourceFailed(_Transient("upload body had to be sent again"))
        self.used = True
        if self.length > PIPELINE_MIN:
            return self._pipelined()
        return self._inline()

    def _read(self, view) -> int:
        return self.src.readinto(view) if hasattr(self.src, "readinto") else _read_into(self.src, view)

    def _short(self) -> _SourceFailed:
        return _SourceFailed(IntegrityError(
            f"{self.what}: the source ended after {self.sent} of {self.length} bytes",
            hint="the file changed since it was staged; run mops add again"))

    def _inline(self):
        buf = bytearray(min(IO_CHUNK, max(self.length, 1)))
        view = memoryview(buf)
        while self.sent < self.length:
            want = min(len(buf), self.length - self.sent)
            try:
                got = self._read(view[:want])
            except BaseException as e:
                raise _SourceFailed(e) from e
            if not got:
                raise self._short()
            if self.hasher is not None:
                self.hasher.update(view[:got])
            self.sent += got
            self.budget.progress()
            yield view[:got]

    def _pipelined(self):
        import queue

        bufs = [bytearray(IO_CHUNK) for _ in range(PIPELINE_DEPTH)]
        free: queue.SimpleQueue = queue.SimpleQueue()
        full: queue.SimpleQueue = queue.SimpleQueue()
        for i in range(PIPELINE_DEPTH):
            free.put(i)
        stop = threading.Event()
        self._stop, self._free = stop, free

        def produce() -> None:
            left = self.length
            try:
                while left > 0:
                    i = free.get()
                    if i is None or stop.is_set():
                        return
                    view = memoryview(bufs[i])[: min(IO_CHUNK, left)]
                    got = self._read(view)
                    if not got:
                        full.put((None, i, 0))
                        return
                    if self.hasher is not None:
                        self.hasher.update(view[:got])
                    left -= got
                    full.put((None, i, got))
            except BaseException as e:  # noqa: BLE001 - handed to the sending thread
                full.put((e, None, 0))

        self._thread = threading.Thread(target=produce, name="mops-upload-reader", daemon=True)
        self._thread.start()
        try:
            while self.sent < self.length:
                err, i, got = full.get()
                if err is not None:
                    raise _SourceFailed(err) from err
                if not got:
                    raise self._short()
                self.sent += got
                self.budget.progress()
                yield memoryview(bufs[i])[:got]
                free.put(i)
        finally:
            self.close()

    def close(self) -> None:
        """Stop and join the reader thread (idempotent): the source is never read after this."""
        if self._thread is not None:
            self._stop.set()
            self._free.put(None)
            self._thread.join()
            self._thread = None


def _read_into(src, view) -> int:
    b = src.read(len(view))
    view[: len(b)] = b
    return len(b)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    q = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), parts.fragment))


def _oci_errors(resp) -> list[tuple[str, str]]:
    try:
        doc = json.loads(resp.content[:65536] or b"{}")
        return [(str(e.get("code", "")), str(e.get("message", ""))) for e in doc.get("errors", []) if isinstance(e, dict)]
    except (ValueError, AttributeError, TypeError):
        return []


def _describe(exc: BaseException) -> str:
    """A short, secret-free cause for a requests exception."""
    import requests

    text = str(exc)
    low = text.lower()
    if isinstance(exc, requests.exceptions.ConnectTimeout) or "connect timeout" in low:
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout) or "read timed out" in low:
        return "no answer (read timed out)"
    for needle, why in (("refused", "connection refused"), ("name or service not known", "unknown host"),
                        ("nodename nor servname", "unknown host"), ("temporary failure in name resolution", "unknown host"),
                        ("reset by peer", "connection reset"), ("broken pipe", "connection closed by the registry"),
                        ("remotedisconnected", "connection closed by the registry"),
                        ("connection aborted", "connection closed by the registry"),
                        ("incompleteread", "connection closed mid-transfer"), ("network is unreachable", "network unreachable"),
                        ("no route to host", "no route to host")):
        if needle in low:
            return why
    return redact(type(exc).__name__)


class RegistryTarget:
    """One repository of one registry, e.g. ``RegistryTarget("localhost:5000", "team/model")``.

    ``credentials``: a ``mops.credentials.Credentials``, None to look them up (environment, docker's
    config.json, credential helpers) when the registry first asks, or False for anonymous access.
    """

    def __init__(self, host: str, repository: str, *, insecure: bool = False, timeout: float = 60.0,
                 chunk_size: int = 64 * MiB, credentials=None):
        self.host = host.lower()
        self.repository = repository
        self.name = f"{self.host}/{repository}"
        self.insecure = bool(insecure)
        self.scheme = "http" if (insecure or is_local_host(self.host)) else "https"
        self.base = f"{self.scheme}://{self.host}"
        self.timeout = float(timeout)
        self.chunk_size = max(int(chunk_size), MIN_CHUNK)
        self._explicit_credentials = credentials
        self._auth = Authenticator(self.host, self._load_credentials, self._fetch_token)
        self._local = threading.local()
        self._sessions: list = []
        self._lock = threading.Lock()
        self.requests_sent = 0  # every HTTP request made (for tests and benchmarks)
        self._env = None

    # -- plumbing ------------------------------------------------------------
    def _load_credentials(self):
        if self._explicit_credentials is False:  # anonymous on purpose: look nothing up
            return None
        if self._explicit_credentials is not None:
            return self._explicit_credentials
        from .credentials import lookup

        return lookup(self.host)

    def _environment(self):
        """Proxies and CA bundle, resolved once (requests would re-read them, and ~/.netrc, per request)."""
        if self._env is None:
            import os

            import requests.utils

            proxies = requests.utils.get_environ_proxies(self.base + "/v2/")
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            self._env = (proxies, verify)
        return self._env

    def _session(self):
        s = getattr(self._local, "session", None)
        if s is None:
            import requests
            from requests.adapters import HTTPAdapter

            s = requests.Session()
            s.trust_env = False
            s.proxies, s.verify = self._environment()
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers["User-Agent"] = "mops"
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    @property
    def authenticated(self) -> bool:
        """True once the registry has asked for credentials (and, if no AuthError came, accepted them)."""
        return self._auth.challenged

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()
        self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _url(self, kind: str, ref: str = "") -> str:
        return f"{self.base}/v2/{self.repository}/{kind}/{ref}"

    @property
    def _pull(self) -> tuple[str, ...]:
        return (f"repository:{self.repository}:pull",)

    @property
    def _push(self) -> tuple[str, ...]:
        return (f"repository:{self.repository}:pull,push",)

    def _unavailable(self, budget: _Budget) -> RemoteUnavailable:
        waited = time.monotonic() - budget.start
        return RemoteUnavailable(
            f"registry {self.host} is unavailable: {budget.last_error or 'no answer'} "
            f"({budget.attempts} attempt{'s' if budget.attempts != 1 else ''} in {waited:.1f} s)",
            hint=f"check that {self.base} is up and reachable; remote.timeout sets how long mops retries",
        )

    def _send(self, method: str, url: str, *, scopes: tuple[str, ...], headers: dict | None = None,
              body: Callable[[], object] | None = None, stream: bool = False, budget: _Budget | None = None,
              retry: bool = True, authenticate: bool = True):
        """One request with auth and retries.  Returns the response for any status but 401/429/5xx.

        With ``retry=False`` a transient failure raises ``_Transient`` for the caller to restart a
        larger operation (an upload) instead of re-sending a request whose body is half consumed.
        """
        import requests

        budget = budget or _Budget(self.timeout)
        auth_rounds = 0
        while True:
            left = budget.remaining()
            if left <= 0.05:
                raise self._unavailable(budget)
            hdrs = dict(headers or {})
            authz = self._auth.authorization(scopes) if authenticate else None
            if authz:
                hdrs["Authorization"] = authz
            data = body() if body is not None else None
            try:
                with self._lock:
                    self.requests_sent += 1
                resp = self._session().request(method, url, headers=hdrs, data=data, stream=stream,
                                               timeout=(min(CONNECT_TIMEOUT, left), left), allow_redirects=True)
                log.debug("%s %s -> %s", method, _public(url), resp.status_code)
            except _SourceFailed as e:  # the caller's reader failed (or a consumed body must be re-sent)
                raise e.original from None
            except requests.exceptions.SSLError:
                raise RemoteUnavailable(
                    f"registry {self.host}: TLS handshake failed (certificate not trusted or not HTTPS)",
                    hint="set REQUESTS_CA_BUNDLE to the registry's CA; for a plain-HTTP registry use --insecure "
                         "(or mops config set remote.insecure true)") from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as e:
                failure = _Transient(_describe(e))
                log.debug("%s %s failed: %s", method, _public(url), failure.why)
                if not retry:
                    budget.last_error = failure.why
                    raise failure from None
                if not budget.backoff(failure):
                    raise self._unavailable(budget) from None
                continue
            status = resp.status_code
            if status == 401 and authenticate:
                challenge = resp.headers.get("WWW-Authenticate", "")
                resp.close()
                if auth_rounds >= 2:
                    raise AuthError(f"registry {self.host} refused access to {self.repository}",
                                    hint=f"run mops login {self.host}")
                auth_rounds += 1
                self._auth.unauthorized(challenge, scopes, authz)
                continue
            if status == 403:
                why = "; ".join(m for _c, m in _oci_errors(resp)) or "forbidden"
                resp.close()
                raise AuthError(f"registry {self.host} denied {method} on {self.repository} ({why})",
                                hint=f"check your rights on {self.name}; run mops login {self.host} to change user")
            if status == 429 or (500 <= status < 600 and status != 501):
                failure = _Transient(f"HTTP {status}", _retry_after(resp))
                resp.close()
                if not retry:
                    budget.last_error = failure.why
                    raise failure
                if not budget.backoff(failure):
                    raise self._unavailable(budget)
                continue
            return resp

    def _fail(self, resp, what: str) -> MopsError:
        """The exception for an unexpected answer about ``what``."""
        errors = _oci_errors(resp)
        codes = {c for c, _m in errors}
        detail = "; ".join(f"{c}: {m}" if m else c for c, m in errors) or f"HTTP {resp.status_code}"
        msg = f"{self.name}: {what}: {detail}"
        resp.close()
        if codes & {"DIGEST_INVALID", "SIZE_INVALID", "MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"}:
            return IntegrityError(msg)
        if codes & {"UNAUTHORIZED", "DENIED"}:
            return AuthError(msg, hint=f"run mops login {self.host}")
        if resp.status_code == 404:
            return NotFound(msg)
        if resp.status_code == 405 or "UNSUPPORTED" in codes:
            return UsageError(msg, hint="the registry does not allow this operation (deletes need storage.delete.enabled)")
        if resp.status_code == 501:
            return RemoteUnavailable(msg, hint="the registry does not implement this part of the distribution API")
        if 400 <= resp.status_code < 500:
            return UsageError(msg)
        return RemoteUnavailable(msg)

    def _fetch_token(self, url: str, query: dict, headers: dict, form: dict | None):
        method, body = ("POST", (lambda: form)) if form is not None else ("GET", None)
        if query:
            url = _with_query_multi(url, query)
        resp = self._send(method, url, scopes=(), headers=headers, body=body, authenticate=False)
        try:
            doc = resp.json() if resp.status_code == 200 else None
        except ValueError:
            doc = None
        status = resp.status_code
        resp.close()
        return status, doc

    # -- Target ----------------------------------------------------------------
    def ping(self) -> None:
        """GET /v2/ with authentication: raises AuthError for bad credentials, RemoteUnavailable if down."""
        resp = self._send("GET", f"{self.base}/v2/", scopes=())
        status = resp.status_code
        resp.close()
        if status != 200:
            raise self._fail(resp, "the /v2/ endpoint (is this an OCI registry?)")
        self._auth.check()

    def blob_size(self, digest: str) -> int | None:
        resp = self._send("HEAD", self._url("blobs", digest), scopes=self._pull)
        resp.close()
        if resp.status_code == 200:
            length = resp.headers.get("Content-Length")
            return int(length) if length is not None else 0
        if resp.status_code == 404:
            return None
        raise self._fail(resp, f"blob {digest}")

    def fetch_blob(self, digest: str, size: int | None = None) -> BinaryIO:
        url = self._url("blobs", digest)
        budget = _Budget(self.timeout)
        resp = self._send("GET", url, scopes=self._pull, stream=True, headers={"Accept-Encoding": "identity"}, budget=budget)
        if resp.status_code == 404:
            resp.close()
            raise NotFound(f"blob {digest} is not in {self.name}", hint="push the bundle again to restore it")
        if resp.status_code != 200:
            raise self._fail(resp, f"blob {digest}")
        length = resp.headers.get("Content-Length")
        if size is not None and length is not None and int(length) != size:
            resp.close()
            raise IntegrityError(f"{self.name}: blob {digest} is {length} bytes, the manifest says {size}")
        total = int(length) if length is not None else size
        return _BlobReader(self, url, resp, total, budget)

    def push_blob(self, digest: str, size: int, opener: Callable[[], BinaryIO]) -> None:
        budget = _Budget(self.timeout)
        chunked = size > self.chunk_size
        while True:
            try:
                if chunked:
                    self._upload_chunked(digest, size, opener, budget)
                else:
                    self._upload_monolithic(digest, size, opener, budget)
                return
            except _ChunkedRefused:
                log.debug("%s refused a chunked upload; sending %s in one request", self.host, digest)
                chunked = False
            except _Transient as t:
                if not budget.backoff(t):
                    raise self._unavailable(budget) from None

    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Link a blob from another repository of this registry; True if the registry did."""
        if from_repository == self.repository:
            return self.blob_size(digest) is not None
        url = _with_query(self._url("blobs", "uploads/"), mount=digest, **{"from": from_repository})
        scopes = (*self._push, f"repository:{from_repository}:pull")
        resp = self._send("POST", url, scopes=scopes)
        resp.close()
        if resp.status_code == 201:
            return True
        if resp.status_code == 202:  # not mounted: an upload session was opened instead; close it
            loc = resp.headers.get("Location")
            if loc:
                self._cancel_upload(urljoin(url, loc))
            return False
        if resp.status_code == 404:
            return False
        raise self._fail(resp, f"mount of {digest} from {from_repository}")

    def resolve(self, ref: str) -> tuple[str, bytes]:
        resp = self._send("GET", self._url("manifests", ref), scopes=self._pull, stream=True,
                          headers={"Accept": _ACCEPT})
        if resp.status_code == 404:
            resp.close()
            raise NotFound(f"{self._ref_text(ref)} not found",
                           hint=f"mops ls-remote {self.name} lists its tags")
        if resp.status_code != 200:
            raise self._fail(resp, f"manifest {ref}")
        try:
            data = resp.raw.read(MAX_MANIFEST + 1, decode_content=True)
        except Exception as e:  # noqa: BLE001 - a dropped connection while reading a small body
            resp.close()
            raise RemoteUnavailable(f"registry {self.host}: manifest {ref}: {_describe(e)}") from None
        resp.close()
        if len(data) > MAX_MANIFEST:
            raise IntegrityError(f"{self._ref_text(ref)}: manifest larger than {MAX_MANIFEST // MiB} MiB")
        got = dg.of_bytes(data)
        if dg.is_digest(ref) and got != ref:
            raise IntegrityError(f"{self._ref_text(ref)}: the registry sent a manifest whose digest is {got}")
        return got, data

    def put_manifest(self, data: bytes, digest: str, tag: str | None = None) -> None:
        if dg.of_bytes(data) != digest:
            raise IntegrityError(f"manifest for {self.name} does not hash to {digest}")
        try:
            media_type = json.loads(data).get("mediaType") or MANIFEST_TYPES[0]
        except (ValueError, AttributeError):
            raise UsageError(f"manifest {digest} is not a JSON object") from None
        # PUT by tag stores the manifest under its digest too: one request either way
        ref = tag or digest
        resp = self._send("PUT", self._url("manifests", ref), scopes=self._push, body=lambda: data,
                          headers={"Content-Type": media_type})
        if resp.status_code not in (200, 201, 202):
            raise self._fail(resp, f"manifest {digest}" + (f" (tag {tag})" if tag else ""))
        echoed = resp.headers.get("Docker-Content-Digest")
        resp.close()
        if echoed and echoed != digest:
            raise IntegrityError(f"{self.name}: the registry stored the manifest as {echoed}, not {digest}")

    def tags(self) -> list[str]:
        url: str | None = self._url("tags", "list")
        out: list[str] = []
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            resp = self._send("GET", url, scopes=self._pull)
            if resp.status_code == 404:
                resp.close()
                return []  # no repository yet: no tags
            if resp.status_code != 200:
                raise self._fail(resp, "tag list")
            try:
                out += [t for t in (resp.json().get("tags") or []) if isinstance(t, str)]
            except (ValueError, AttributeError):
                raise RemoteUnavailable(f"registry {self.host}: the tag list of {self.repository} is not JSON") from None
            nxt = resp.links.get("next", {}).get("url")
            resp.close()
            url = urljoin(url, nxt) if nxt else None
        return sorted(set(out))

    def delete_manifest(self, digest: str) -> None:
        resp = self._send("DELETE", self._url("manifests", digest), scopes=(f"repository:{self.repository}:delete",
                                                                            *self._push))
        resp.close()
        if resp.status_code in (200, 202, 204):
            return
        if resp.status_code == 404:
            raise NotFound(f"manifest {digest} is not in {self.name}")
        raise self._fail(resp, f"delete of manifest {digest}")

    def delete_blob(self, digest: str) -> None:
        resp = self._send("DELETE", self._url("blobs", digest), scopes=(f"repository:{self.repository}:delete",
                                                                        *self._push))
        resp.close()
        if resp.status_code in (200, 202, 204):
            return
        if resp.status_code == 404:
            raise NotFound(f"blob {digest} is not in {self.name}")
        raise self._fail(resp, f"delete of blob {digest}")

    # -- uploads ---------------------------------------------------------------
    def _ref_text(self, ref: str) -> str:
        return f"{self.name}@{ref}" if dg.is_digest(ref) else f"{self.name}:{ref}"

    def _start_upload(self, budget: _Budget) -> tuple[str, int]:
        url = self._url("blobs", "uploads/")
        resp = self._send("POST", url, scopes=self._push, budget=budget)
        resp.close()
        if resp.status_code != 202 or not resp.headers.get("Location"):
            raise self._fail(resp, "start of a blob upload")
        try:
            min_chunk = int(resp.headers.get("OCI-Chunk-Min-Length") or 0)
        except ValueError:
            min_chunk = 0
        return urljoin(url, resp.headers["Location"]), min_chunk

    def _cancel_upload(self, location: str) -> None:
        try:
            self._send("DELETE", location, scopes=self._push, budget=_Budget(min(self.timeout, 5.0))).close()
        except MopsError:
            pass  # the registry expires abandoned sessions on its own

    def _upload_monolithic(self, digest: str, size: int, opener, budget: _Budget) -> None:
        location, _ = self._start_upload(budget)
        with opener() as src:
            hasher = _hasher_for(src, digest)
            payload = _Body(src, size, budget, hasher, f"blob {digest}")
            try:
                resp = self._send("PUT", _with_query(location, digest=digest), scopes=self._push, budget=budget,
                                  retry=False, headers={"Content-Type": "application/octet-stream"},
                                  body=lambda: payload if size else b"")
            finally:
                payload.close()
            try:
                _check_source_done(src, digest, size)
            except MopsError:
                resp.close()
                raise
        got = "sha256:" + hasher.hexdigest() if hasher is not None else digest
        if resp.status_code == 201:
            resp.close()
            if got != digest:  # cannot happen with an honest registry: it checks the digest itself
                raise IntegrityError(f"blob {digest}: the source's bytes hash to {got}")
            return
        if got != digest:
            resp.close()
            raise IntegrityError(f"blob {digest}: the source's bytes hash to {got}",
                                 hint="the file changed since it was staged; run mops add again")
        raise self._fail(resp, f"upload of blob {digest}")

    def _upload_chunked(self, digest: str, size: int, opener, budget: _Budget) -> None:
        location, min_chunk = self._start_upload(budget)
        chunk = max(self.chunk_size, min_chunk)
        offset = 0
        try:
            with opener() as src:
                hasher = _hasher_for(src, digest)
                while offset < size:
                    n = min(chunk, size - offset)
                    payload = _Body(src, n, budget, hasher, f"blob {digest}")
                    try:
                        resp = self._send("PATCH", location, scopes=self._push, budget=budget, retry=False,
                                          headers={"Content-Type": "application/octet-stream",
                                                   "Content-Range": f"{offset}-{offset + n - 1}"},
                                          body=lambda p=payload: p)
                    finally:
                        payload.close()
                    if resp.status_code not in (202, 204):
                        if offset == 0 and resp.status_code in (400, 405, 413, 416, 501):
                            resp.close()
                            raise _ChunkedRefused()
                        raise self._fail(resp, f"upload of blob {digest} at byte {offset}")
                    resp.close()
                    location = urljoin(location, resp.headers.get("Location") or location)
                    offset += n
                    budget.progress()
                _check_source_done(src, digest, size)
            got = "sha256:" + hasher.hexdigest() if hasher is not None else digest
            if got != digest:
                raise IntegrityError(f"blob {digest}: the source's bytes hash to {got}",
                                     hint="the file changed since it was staged; run mops add again")
        except (MopsError, _ChunkedRefused):
            self._cancel_upload(location)
            raise
        resp = self._send("PUT", _with_query(location, digest=digest), scopes=self._push, budget=budget, retry=False)
        if resp.status_code != 201:
            raise self._fail(resp, f"upload of blob {digest}")
        resp.close()


def _hasher_for(src, digest: str):
    """A sha256 for the bytes sent, or None when the source verifies ``digest`` itself at EOF
    (``verifies_digest``, e.g. a worktree file re-read for a push): one hash per byte, not two."""
    return None if getattr(src, "verifies_digest", None) == digest else hashlib.sha256()


def _check_source_done(src, digest: str, size: int) -> None:
    """The source must end exactly here; a verifying source raises its own error at EOF."""
    try:
        extra = src.read(1)
    except MopsError:  # e.g. ConflictError: a worktree file changed since it was staged
        raise
    except Exception:  # noqa: BLE001 - a reader that cannot read past its end is done
        return
    if extra:
        raise IntegrityError(f"blob {digest}: the source has more than the expected {size} bytes",
                             hint="the file changed since it was staged; run mops add again")


def _with_query_multi(url: str, query: dict) -> str:
    parts = urlsplit(url)
    q = parse_qsl(parts.query, keep_blank_values=True)
    for k, v in query.items():
        q += [(k, x) for x in v] if isinstance(v, list) else [(k, v)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), parts.fragment))


def _retry_after(resp) -> float | None:
    v = resp.headers.get("Retry-After")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def _public(url: str) -> str:
    """A URL fit for logs: no query string (upload state, tokens, signatures)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class _BlobReader:
    """A blob download as a file: ``read``/``readinto`` in the caller's chunks; resumes with ``Range``."""

    def __init__(self, target: RegistryTarget, url: str, resp, total: int | None, budget: _Budget):
        self.target, self.url, self.resp, self.total, self.budget = target, url, resp, total, budget
        self.offset = 0
        self.closed = False

    def readable(self) -> bool:
        return True

    def _raw_read(self, n: int) -> bytes:
        while True:
            try:
                data = self.resp.raw.read(n, decode_content=True)
            except Exception as e:  # noqa: BLE001 - urllib3/OS errors mid-stream: resume
                self._resume(_Transient(_describe(e)))
                continue
            if not data and self.total is not None and self.offset < self.total:
                self._resume(_Transient("connection closed mid-transfer"))
                continue
            if data:
                self.offset += len(data)
                self.budget.progress()
            return data

    def _resume(self, failure: _Transient) -> None:
        self.resp.close()
        log.debug("download of %s broke at byte %d (%s); resuming", _public(self.url), self.offset, failure.why)
        if not self.budget.backoff(failure):
            raise self.target._unavailable(self.budget)
        hdrs = {"Accept-Encoding": "identity", "Range": f"bytes={self.offset}-"}
        resp = self.target._send("GET", self.url, scopes=self.target._pull, stream=True, headers=hdrs, budget=self.budget)
        if resp.status_code == 206:
            self.resp = resp
            return
        if resp.status_code == 200:  # the registry ignored Range: skip what we already have
            self.resp = resp
            skip = self.offset
            while skip:
                got = resp.raw.read(min(skip, IO_CHUNK), decode_content=True)
                if not got:
                    raise _Transient("connection closed mid-transfer")
                skip -= len(got)
            return
        raise self.target._fail(resp, "blob download")

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while True:
                b = self._raw_read(IO_CHUNK)
                if not b:
                    return b"".join(parts)
                parts.append(b)
        return self._raw_read(n) if n else b""

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        data = self._raw_read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.resp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
