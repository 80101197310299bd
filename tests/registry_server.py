"""Real registries for the tests: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

Fixtures (loaded for every test module through ``pytest_plugins`` in conftest.py):

- ``registry``: anonymous, one per test session; use a fresh repository name per test
  (``registry.repo("name")`` makes one unique to the test).
- ``auth_registry``: htpasswd Basic auth (``.user`` / ``.password``), one per session.
- ``token_registry``: Bearer tokens from a token service in the test process (``.token_server``).
- ``registry_factory``: start a private one (``registry_factory(auth=True)``) for a test that needs
  a registry of its own.

Each server keeps its blobs in a temporary directory, allows deletes, and writes an access log the
tests read to count requests: ``registry.requests(since=mark)`` lists (method, path, status).
Without the binary the tests skip on a laptop and fail in CI (CI=true).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

BINARY = "docker-registry"
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# gorilla's combined log: 127.0.0.1 - - [date] "HEAD /v2/x/blobs/sha256:… HTTP/1.1" 200 0 "" "mops"
_ACCESS_RE = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d{3}) ')
_counter = itertools.count()


def _need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/bin/{binary}" if os.path.exists(f"/usr/bin/{binary}") else None)
    if path is None:
        msg = f"{binary} not installed (apt-get install docker-registry apache2-utils skopeo; make system)"
        if _IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    root: Path
    log_path: Path
    proc: subprocess.Popen
    user: str | None = None
    password: str | None = None
    token_server: TokenServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def repo(self, stem: str = "test") -> str:
        """A repository name no other test of the session uses."""
        name = f"{re.sub(r'[^a-z0-9]+', '-', stem.lower()).strip('-') or 'repo'}-{next(_counter)}"
        return f"mops/{name}"

    def access_log(self) -> list[tuple[str, str, int]]:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return [(m.group(1), m.group(2), int(m.group(3))) for m in _ACCESS_RE.finditer(text)]

    def mark(self) -> int:
        return len(self.access_log())

    def requests(self, since: int = 0, path_contains: str = "") -> list[tuple[str, str, int]]:
        return [r for r in self.access_log()[since:] if path_contains in r[1]]

    def stop(self) -> None:
        if self.token_server is not None:
            self.token_server.stop()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class TokenServer:
    """A docker-style token service (the Bearer realm): RS256 JWTs that distribution's ``auth.token`` trusts.

    Grants what is asked to ``user``/``password``; anonymous callers get ``anonymous_actions``
    (none by default).  ``requests`` records (scope list, user or None, status) for every call.
    """

    service = "mops-test-registry"
    issuer = "mops-test-issuer"

    def __init__(self, base: Path, user: str, password: str, anonymous_actions: tuple[str, ...] = ()):
        import base64
        import datetime
        import http.server
        import json
        import threading
        from urllib.parse import parse_qs, urlsplit

        try:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
            from cryptography.x509.oid import NameOID
        except ImportError:
            if _IN_CI:
                pytest.fail("the token-auth tests need the cryptography package (pip install -e '.[test]')")
            pytest.skip("cryptography not installed")
        self.user, self.password, self.anonymous_actions = user, password, anonymous_actions
        self.requests: list[tuple[list[str], str | None, int]] = []
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mops test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
        self.cert_path = base / "token-ca.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        b32 = base64.b32encode(hashlib_sha256(der)[:30]).decode().rstrip("=")
        kid = ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))  # libtrust's key id

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        def sign(claims: dict) -> str:
            head = b64(json.dumps({"typ": "JWT", "alg": "RS256", "kid": kid}).encode())
            body = b64(json.dumps(claims).encode())
            sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
            return f"{head}.{body}.{b64(sig)}"

        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                q = parse_qs(urlsplit(self.path).query)
                scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s]
                who = None
                authz = self.headers.get("Authorization", "")
                if authz.startswith("Basic "):
                    u, _, p = base64.b64decode(authz[6:]).decode().partition(":")
                    if (u, p) != (server.user, server.password):
                        server.requests.append((scopes, u, 401))
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    who = u
                access = []
                for s in scopes:
                    kind, _, rest = s.partition(":")
                    repo, _, actions = rest.rpartition(":")
                    allowed = actions.split(",") if who else [a for a in actions.split(",") if a in server.anonymous_actions]
                    if allowed:
                        access.append({"type": kind, "name": repo, "actions": allowed})
                t = int(time.time())
                token = sign({"iss": server.issuer, "sub": who or "", "aud": server.service, "exp": t + 300,
                              "nbf": t - 10, "iat": t - 10, "jti": os.urandom(8).hex(), "access": access})
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                server.requests.append((scopes, who, 200))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def config(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {self.service}\n"
                f"    issuer: {self.issuer}\n    rootcertbundle: {self.cert_path}\n")

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def hashlib_sha256(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


def start_registry(base: Path, auth: bool | str = False) -> Registry:
    """``auth``: False (anonymous), True or "basic" (htpasswd), "token" (Bearer tokens from a TokenServer)."""
    binary = _need(BINARY)
    base.mkdir(parents=True, exist_ok=True)
    storage = base / "storage"
    storage.mkdir(exist_ok=True)
    user = password = None
    auth_block = ""
    token_server = None
    if auth == "token":
        user, password = "tokenuser", "t0ken-Pa55-" + os.urandom(4).hex()
        token_server = TokenServer(base, user, password)
        auth_block = token_server.config()
    elif auth:
        htpasswd = _need("htpasswd")
        user, password = "alice", "s3cret-Pa55-" + os.urandom(4).hex()
        line = subprocess.run([htpasswd, "-Bbn", user, password], check=True, capture_output=True, text=True).stdout
        (base / "htpasswd").write_text(line.strip() + "\n")
        auth_block = f"auth:\n  htpasswd:\n    realm: mops-test\n    path: {base / 'htpasswd'}\n"
    last_err = ""
    for _ in range(5):  # a port taken between probing and binding: try another
        port = _free_port()
        config = base / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  formatter: text\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            f"http:\n  addr: 127.0.0.1:{port}\n  secret: mops-test-secret\n"
            + auth_block
        )
        log_path = base / "access.log"
        out = open(log_path, "ab")
        err = open(base / "registry.err", "ab")
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
        out.close()
        err.close()
        reg = Registry(f"127.0.0.1:{port}", storage, log_path, proc, user, password, token_server=token_server)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return reg
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    return reg
            except OSError:
                pass
            time.sleep(0.05)
        reg.stop()
        last_err = (base / "registry.err").read_text(errors="replace")[-2000:]
    pytest.fail(f"docker-registry did not start:\n{last_err}")


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    reg = start_registry(tmp_path_factory.mktemp("registry-auth"), auth=True)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory):
    """Bearer-token auth (distribution's ``auth.token``) with a real token service; ``.token_server.requests``."""
    reg = start_registry(tmp_path_factory.mktemp("registry-token"), auth="token")
    yield reg
    reg.stop()


@pytest.fixture
def registry_factory(tmp_path):
    started: list[Registry] = []

    def start(auth: bool = False) -> Registry:
        reg = start_registry(tmp_path / f"registry-{len(started)}", auth=auth)
        started.append(reg)
        return reg

    yield start
    for reg in started:
        reg.stop()
