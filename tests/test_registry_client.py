"""The registry client against a real distribution 2.8 server (and small real HTTP servers for faults)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import IN_CI

from mops.credentials import Credentials
from mops.errors import AuthError, ConflictError, IntegrityError, NotFound, RemoteUnavailable
from mops.registry import RegistryTarget

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push(t: RegistryTarget, data: bytes) -> str:
    d = sha(data)
    t.push_blob(d, len(data), lambda: io.BytesIO(data))
    return d


def read_all(f, n: int = 256 * 1024) -> bytes:
    parts = []
    with f:
        while True:
            b = f.read(n)
            if not b:
                return b"".join(parts)
            parts.append(b)


def methods(reqs) -> list[str]:
    return [m for m, _p, _s in reqs]


def manifest_for(config: bytes, layers: list[bytes]) -> bytes:
    """A bundle-like OCI manifest; odd spacing on purpose: the digest is of these exact bytes."""
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.modelops.bundle.v1",
        "config": {"mediaType": "application/vnd.modelops.bundle.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/octet-stream", "digest": sha(b), "size": len(b),
                    "annotations": {"org.opencontainers.image.title": f"f{i}.bin"}} for i, b in enumerate(layers)],
    }
    return json.dumps(doc, indent=3).encode() + b"\n"


# -- blobs ---------------------------------------------------------------------------------------

def test_chunked_upload_round_trip(registry):
    t = RegistryTarget(registry.host, registry.repo("chunked"), chunk_size=1 * MiB)
    data = os.urandom(3 * MiB + MiB // 2)
    d = sha(data)
    assert t.blob_size(d) is None
    mark = registry.mark()
    t.push_blob(d, len(data), lambda: io.BytesIO(data))
    assert methods(registry.requests(mark)) == ["POST", "PATCH", "PATCH", "PATCH", "PATCH", "PUT"]
    assert t.blob_size(d) == len(data)
    got = read_all(t.fetch_blob(d, len(data)))
    assert sha(got) == d and got == data


def test_small_blob_goes_in_one_put(registry):
    t = RegistryTarget(registry.host, registry.repo("mono"), chunk_size=1 * MiB)
    data = os.urandom(300_000)
    mark = registry.mark()
    d = push(t, data)
    assert methods(registry.requests(mark)) == ["POST", "PUT"]
    assert read_all(t.fetch_blob(d)) == data


def test_empty_blob(registry):
    t = RegistryTarget(registry.host, registry.repo("empty"))
    d = push(t, b"")
    assert t.blob_size(d) == 0
    assert read_all(t.fetch_blob(d, 0)) == b""


def test_parallel_pushes_from_threads(registry):
    t = RegistryTarget(registry.host, registry.repo("threads"), chunk_size=1 * MiB)
    blobs = [os.urandom(MiB + i * 1000) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        digests = list(pool.map(lambda b: push(t, b), blobs))
    with ThreadPoolExecutor(4) as pool:
        back = list(pool.map(lambda d: read_all(t.fetch_blob(d)), digests))
    assert back == blobs


def test_missing_blob_is_not_found(registry):
    t = RegistryTarget(registry.host, registry.repo("missing"))
    d = sha(b"never pushed")
    with pytest.raises(NotFound) as e:
        t.fetch_blob(d)
    assert d in str(e.value) and e.value.exit_code == 1


def test_wrong_digest_is_refused(registry):
    t = RegistryTarget(registry.host, registry.repo("wrong"), chunk_size=1 * MiB)
    for size in (1000, 2 * MiB + 5):  # monolithic and chunked
        data = os.urandom(size)
        claimed = sha(b"something else")
        with pytest.raises(IntegrityError) as e:
            t.push_blob(claimed, len(data), lambda data=data: io.BytesIO(data))
        assert claimed in str(e.value) and e.value.exit_code == 11
        assert t.blob_size(claimed) is None


def test_short_source_fails_fast_instead_of_hanging(registry):
    t = RegistryTarget(registry.host, registry.repo("short"), chunk_size=1 * MiB)
    data = os.urandom(5000)
    t0 = time.monotonic()
    with pytest.raises(IntegrityError) as e:
        t.push_blob(sha(data + b"x"), len(data) + 1, lambda: io.BytesIO(data))
    assert "ended after 5000 of 5001 bytes" in str(e.value)
    assert time.monotonic() - t0 < 30


def test_reader_error_propagates_unchanged(registry):
    """A worktree file that changed since it was staged keeps its own exit code (12), not 'unavailable'."""

    class Changing(io.BytesIO):
        def readinto(self, b):
            raise ConflictError("model.bin changed since it was staged")

    t = RegistryTarget(registry.host, registry.repo("conflict"), chunk_size=1 * MiB)
    for size in (100, 3 * MiB):
        with pytest.raises(ConflictError, match="model.bin changed"):
            t.push_blob(sha(b"z" * size), size, lambda size=size: Changing(b"z" * size))


def test_mount_between_repositories(registry):
    a = RegistryTarget(registry.host, registry.repo("mount-a"))
    b = RegistryTarget(registry.host, registry.repo("mount-b"))
    data = os.urandom(100_000)
    d = push(a, data)
    assert b.blob_size(d) is None
    mark = registry.mark()
    assert b.mount_blob(d, a.repository) is True
    assert registry.requests(mark) and registry.requests(mark)[0][0] == "POST" and registry.requests(mark)[0][2] == 201
    assert b.blob_size(d) == len(data)
    assert read_all(b.fetch_blob(d)) == data
    assert b.mount_blob(sha(b"unknown"), a.repository) is False
    assert b.blob_size(sha(b"unknown")) is None


def test_delete_blob_and_manifest(registry):
    t = RegistryTarget(registry.host, registry.repo("delete"))
    cfg = b'{"schemaVersion":1,"files":[]}'
    push(t, cfg)
    m = manifest_for(cfg, [])
    t.put_manifest(m, sha(m), "gone")
    t.delete_manifest(sha(m))
    with pytest.raises(NotFound):
        t.resolve(sha(m))
    t.delete_blob(sha(cfg))
    assert t.blob_size(sha(cfg)) is None
    with pytest.raises(NotFound):
        t.delete_blob(sha(cfg))


# -- manifests and tags ----------------------------------------------------------------------------

def test_manifest_put_resolve_exact_bytes_and_skopeo(registry):
    t = RegistryTarget(registry.host, registry.repo("manifest"))
    cfg = b'{"files":[],"schemaVersion":1}'
    layer = os.urandom(4096)
    push(t, cfg)
    push(t, layer)
    m = manifest_for(cfg, [layer])
    d = sha(m)
    mark = registry.mark()
    t.put_manifest(m, d, "v1")
    assert methods(registry.requests(mark)) == ["PUT"]  # tagging stores the digest too: one request
    assert t.resolve("v1") == (d, m)
    assert t.resolve(d) == (d, m)
    assert t.tags() == ["v1"]
    if shutil.which("skopeo") or IN_CI:  # CI installs skopeo: missing there is a failure, not a skip
        out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{t.name}:v1"],
                             capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr.decode()
        assert out.stdout == m


def test_put_manifest_without_its_blobs_is_an_integrity_error(registry):
    t = RegistryTarget(registry.host, registry.repo("noblobs"))
    m = manifest_for(b"{}", [b"layer never pushed"])
    with pytest.raises(IntegrityError) as e:
        t.put_manifest(m, sha(m), "v1")
    assert e.value.exit_code == 11 and t.name in str(e.value)


def test_resolve_unknown_tag_and_digest(registry):
    t = RegistryTarget(registry.host, registry.repo("unknown"))
    with pytest.raises(NotFound) as e:
        t.resolve("nope")
    assert f"{t.name}:nope" in str(e.value) and e.value.exit_code == 1
    with pytest.raises(NotFound):
        t.resolve(sha(b"x"))


def test_tags_sorted_and_empty_repository(registry):
    t = RegistryTarget(registry.host, registry.repo("tags"))
    assert t.tags() == []
    cfg = b"{}"
    push(t, cfg)
    m = manifest_for(cfg, [])
    for tag in ("v2", "latest", "v10", "a"):
        t.put_manifest(m, sha(m), tag)
    assert t.tags() == ["a", "latest", "v10", "v2"]


# -- auth ----------------------------------------------------------------------------------------

def test_basic_auth_sends_credentials_up_front(auth_registry):
    reg = auth_registry
    t = RegistryTarget(reg.host, reg.repo("basic"), chunk_size=1 * MiB, credentials=Credentials(reg.user, reg.password))
    mark = reg.mark()
    data = os.urandom(2 * MiB + 3)
    d = push(t, data)
    cfg = b"{}"
    push(t, cfg)
    m = manifest_for(cfg, [data])
    t.put_manifest(m, sha(m), "v1")
    assert t.resolve("v1") == (sha(m), m)
    assert read_all(t.fetch_blob(d)) == data
    reqs = reg.requests(mark)
    assert [s for _m, _p, s in reqs].count(401) == 1  # only the very first request was challenged
    assert reqs[0][0] == "POST" and reqs[0][2] == 401  # ... and it carried no body


def test_wrong_password_is_auth_error_without_the_secret(auth_registry):
    reg = auth_registry
    bad = "not-the-Pa55word-xyz"
    t = RegistryTarget(reg.host, reg.repo("badpw"), credentials=Credentials(reg.user, bad))
    with pytest.raises(AuthError) as e:
        t.blob_size(sha(b"x"))
    assert e.value.exit_code == 10
    text = f"{e.value} {e.value.hint} {e.value!r} {e.value.args}"
    assert reg.host in text and bad not in text and reg.password not in text


def test_anonymous_on_auth_registry_says_how_to_log_in(auth_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-docker"))
    monkeypatch.delenv("MOPS_REGISTRY_USERNAME", raising=False)
    t = RegistryTarget(auth_registry.host, auth_registry.repo("anon"))
    with pytest.raises(AuthError) as e:
        t.tags()
    assert f"mops login {auth_registry.host}" in e.value.hint


def test_environment_credentials(auth_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-docker"))
    monkeypatch.setenv("MOPS_REGISTRY_USERNAME", auth_registry.user)
    monkeypatch.setenv("MOPS_REGISTRY_PASSWORD", auth_registry.password)
    t = RegistryTarget(auth_registry.host, auth_registry.repo("env"))
    d = push(t, b"from the environment")
    assert t.blob_size(d) == len(b"from the environment")


def test_login_logout_cli(auth_registry, tmp_path, monkeypatch, run):
    reg = auth_registry
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.delenv("MOPS_REGISTRY_USERNAME", raising=False)
    r = run("login", reg.host, "-u", reg.user, "--password-stdin", "--json", stdin=(reg.password + "\n").encode())
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["schema"] == "mops.login/v1" and doc["verified"] is True
    cfg = tmp_path / "docker" / "config.json"
    assert (cfg.stat().st_mode & 0o777) == 0o600
    assert reg.password not in r.out + r.err
    t = RegistryTarget(reg.host, reg.repo("stored"))  # credentials come from the store
    assert t.tags() == []
    r = run("logout", reg.host)
    assert r.code == 0 and "Removed credentials" in r.err
    with pytest.raises(AuthError):
        RegistryTarget(reg.host, reg.repo("stored")).tags()


def test_login_wrong_password_exit_10_stores_nothing(auth_registry, tmp_path, monkeypatch, run_sub):
    reg = auth_registry
    bad = "Wr0ng-" + os.urandom(6).hex()
    env = {"DOCKER_CONFIG": str(tmp_path / "docker"), "MOPS_REGISTRY_USERNAME": ""}
    r = run_sub("login", reg.host, "-u", reg.user, "--password-stdin", stdin=bad.encode(), env=env, cwd=tmp_path)
    assert r.code == 10, r.err
    assert bad not in r.out + r.err and reg.host in r.err
    assert not (tmp_path / "docker" / "config.json").exists()


def test_bearer_token_flow(token_registry):
    reg = token_registry
    tokens = reg.token_server.requests
    t = RegistryTarget(reg.host, reg.repo("bearer"), chunk_size=1 * MiB, credentials=Credentials(reg.user, reg.password))
    before = len(tokens)
    mark = reg.mark()
    data = os.urandom(2 * MiB + 17)
    d = push(t, data)  # POST, PATCH×3, PUT: one token for pull,push
    cfg = b"{}"
    push(t, cfg)
    m = manifest_for(cfg, [data])
    t.put_manifest(m, sha(m), "v1")
    assert t.resolve("v1") == (sha(m), m)
    assert read_all(t.fetch_blob(d)) == data
    assert t.tags() == ["v1"]
    fetched = tokens[before:]
    assert [(s, who) for s, who, _st in fetched] == [([f"repository:{t.repository}:pull,push"], reg.user),
                                                     ([f"repository:{t.repository}:pull"], reg.user)]
    assert [s for _m, _p, s in reg.requests(mark)].count(401) == 1  # later scopes were fetched up front

    other = RegistryTarget(reg.host, reg.repo("bearer-mount"), credentials=Credentials(reg.user, reg.password))
    assert other.mount_blob(d, t.repository) is True
    assert tokens[-1][0] == [f"repository:{other.repository}:pull,push", f"repository:{t.repository}:pull"]


def test_bearer_wrong_password_and_anonymous(token_registry):
    reg = token_registry
    bad = "bearer-Wr0ng-pw"
    t = RegistryTarget(reg.host, reg.repo("bearer-bad"), credentials=Credentials(reg.user, bad))
    with pytest.raises(AuthError) as e:
        t.tags()
    assert e.value.exit_code == 10 and "refused the credentials" in str(e.value)
    assert bad not in f"{e.value} {e.value.hint}"
    anon = RegistryTarget(reg.host, reg.repo("bearer-anon"), credentials=False)
    with pytest.raises(AuthError) as e:
        anon.blob_size(sha(b"x"))
    assert "denied" in str(e.value) and "anonymously" in str(e.value)
    assert f"mops login {reg.host}" in e.value.hint


# -- retries -------------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_registry_gives_up_in_bounded_time():
    host = f"127.0.0.1:{_closed_port()}"
    t = RegistryTarget(host, "team/model", timeout=2)
    t0 = time.monotonic()
    with pytest.raises(RemoteUnavailable) as e:
        t.resolve("latest")
    assert time.monotonic() - t0 < 30  # no stall (oras-py takes ~131 s here)
    assert host in str(e.value) and e.value.exit_code == 3
    assert "refused" in str(e.value)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: list  # statuses to answer in turn; the last one repeats; "hang" never answers

    def log_message(self, *a):
        pass

    def _answer(self):
        srv = self.server
        with srv.lock:
            srv.hits += 1
            step = srv.script[min(srv.hits - 1, len(srv.script) - 1)]
        if step == "hang":
            time.sleep(srv.hang_for)
            return
        self.send_response(step)
        if step == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "3" if step == 200 else "0")
        self.end_headers()

    do_GET = do_HEAD = _answer


@pytest.fixture
def flaky_server():
    servers = []

    def start(script, hang_for=5.0):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        srv.daemon_threads = True
        srv.script, srv.hits, srv.lock, srv.hang_for = script, 0, threading.Lock(), hang_for
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_transient_errors_are_retried(flaky_server):
    srv = flaky_server([503, 429, 502, 200])
    t = RegistryTarget(f"127.0.0.1:{srv.server_address[1]}", "team/model", timeout=20)
    assert t.blob_size(sha(b"abc")) == 3
    assert srv.hits == 4


def test_persistent_5xx_becomes_unavailable(flaky_server):
    srv = flaky_server([503])
    host = f"127.0.0.1:{srv.server_address[1]}"
    t = RegistryTarget(host, "team/model", timeout=2)
    with pytest.raises(RemoteUnavailable) as e:
        t.blob_size(sha(b"abc"))
    assert host in str(e.value) and "HTTP 503" in str(e.value)
    assert srv.hits >= 2


def test_silent_registry_is_bounded_by_timeout(flaky_server):
    srv = flaky_server(["hang"], hang_for=20)
    t = RegistryTarget(f"127.0.0.1:{srv.server_address[1]}", "team/model", timeout=2)
    t0 = time.monotonic()
    with pytest.raises(RemoteUnavailable) as e:
        t.blob_size(sha(b"abc"))
    assert time.monotonic() - t0 < 15
    assert "timed out" in str(e.value)


class _DroppingBlobHandler(http.server.BaseHTTPRequestHandler):
    """Serves one blob; the first GET promises all of it but hangs up halfway; later GETs honour Range."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        srv = self.server
        data = srv.blob
        srv.ranges.append(self.headers.get("Range"))
        rng = self.headers.get("Range")
        if len(srv.ranges) == 1:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


def test_download_resumes_after_a_dropped_connection():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DroppingBlobHandler)
    srv.daemon_threads = True
    srv.blob, srv.ranges = os.urandom(3 * MiB + 11), []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        t = RegistryTarget(f"127.0.0.1:{srv.server_address[1]}", "team/model", timeout=10)
        got = read_all(t.fetch_blob(sha(srv.blob), len(srv.blob)))
        assert got == srv.blob
        assert srv.ranges[0] is None and len(srv.ranges) == 2  # one resume, from what had arrived
        assert 0 < int(srv.ranges[1].split("=")[1].rstrip("-")) <= len(srv.blob) // 2
    finally:
        srv.shutdown()
        srv.server_close()


def test_plain_http_only_for_local_hosts():
    assert RegistryTarget("localhost:5000", "a/b").base == "http://localhost:5000"
    assert RegistryTarget("127.0.0.1:5000", "a/b").base == "http://127.0.0.1:5000"
    assert RegistryTarget("[::1]:5000", "a/b").base == "http://[::1]:5000"
    assert RegistryTarget("ghcr.io", "a/b").base == "https://ghcr.io"
    assert RegistryTarget("registry.internal:5000", "a/b").base == "https://registry.internal:5000"
    assert RegistryTarget("registry.internal:5000", "a/b", insecure=True).base == "http://registry.internal:5000"
