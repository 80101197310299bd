"""Real registries for the tests: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

Fixtures (loaded for every test module through ``pytest_plugins`` in conftest.py):

- ``registry``: anonymous, one per test session; use a fresh repository name per test
  (``registry.repo("name")`` makes one unique to the test).
- ``auth_registry``: htpasswd Basic auth (``.user`` / ``.password``), one per session.
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
from dataclasses import dataclass, field
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
    _names: set = field(default_factory=set)

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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_registry(base: Path, auth: bool = False) -> Registry:
    binary = _need(BINARY)
    base.mkdir(parents=True, exist_ok=True)
    storage = base / "storage"
    storage.mkdir(exist_ok=True)
    user = password = None
    auth_block = ""
    if auth:
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
        reg = Registry(f"127.0.0.1:{port}", storage, log_path, proc, user, password)
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
