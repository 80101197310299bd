"""Large files through push and pull with an external store, for real, through the CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import write

THRESHOLD = 4096


@pytest.fixture
def layout(tmp_path) -> Path:
    return tmp_path / "bundles"


def make_project(run, monkeypatch, root: Path, layout: Path, store) -> Path:
    assert run("init", str(root), "--registry", f"oci:{layout}").code == 0
    (root / ".gitignore").unlink()
    monkeypatch.chdir(root)
    store.configure(run)
    assert run("config", "set", "storage.threshold", str(THRESHOLD)).code == 0
    return root


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".modelops-bundle" not in p.parts and p.name != ".modelopsignore"}


def test_round_trip_with_external_store(any_store, run, monkeypatch, tmp_path, layout):
    laptop = make_project(run, monkeypatch, tmp_path / "laptop", layout, any_store)
    big = os.urandom(300_000)
    write("models/weights.bin", big)
    write("models/copy.bin", big)  # same content, second path: one object
    write("at-threshold.bin", os.urandom(THRESHOLD))
    write("below.bin", os.urandom(THRESHOLD - 1))
    write("code.py", "x = 1\n")
    run("add", ".")
    r = run("push", "--tag", "v1")
    assert r.code == 0, r.err
    digest = r.out.strip()
    show = json.loads(run("show", "v1", "--json").out)
    storage = {f["path"]: f["storage"] for f in show["files"]}
    assert storage == {"models/weights.bin": "external", "models/copy.bin": "external",
                       "at-threshold.bin": "external", "below.bin": "registry", "code.py": "registry"}
    uris = {f["path"]: f.get("uri") for f in show["files"]}
    assert uris["models/weights.bin"] == uris["models/copy.bin"]
    h = hashlib.sha256(big).hexdigest()
    assert uris["models/weights.bin"] == f"{any_store.url}/sha256/{h[:2]}/{h[2:4]}/{h}"
    assert sorted(any_store.open().digests()) == sorted({f"sha256:{h}", f["digest"] if (f := next(
        x for x in show["files"] if x["path"] == "at-threshold.bin")) else ""})
    worker = tmp_path / "worker"
    make_project(run, monkeypatch, worker, layout, any_store)
    r = run("pull", "v1")
    assert r.code == 0, r.err
    assert tree_files(worker) == tree_files(laptop)
    assert run("status", "--porcelain").out == ""
    assert run("resolve", "v1").out.strip().endswith(digest)


def test_lazy_pull_writes_pointers_then_real_content(file_store, run, monkeypatch, tmp_path, layout):
    make_project(run, monkeypatch, tmp_path / "laptop", layout, file_store)
    big = os.urandom(50_000)
    write("w.bin", big)
    run("add", ".")
    run("push")
    worker = make_project(run, monkeypatch, tmp_path / "worker", layout, file_store)
    assert run("pull", "--lazy").code == 0
    pointer = json.loads((worker / "w.bin").read_text())
    assert pointer["mops-pointer"] == 1 and pointer["digest"] == "sha256:" + hashlib.sha256(big).hexdigest()
    assert run("status", "--porcelain").out == ""  # a pointer is not a modification
    assert run("pull").code == 0
    assert (worker / "w.bin").read_bytes() == big
    assert run("status", "--porcelain").out == ""


def test_tampered_external_object_exits_11_and_leaves_nothing(file_store, run, monkeypatch, tmp_path, layout):
    make_project(run, monkeypatch, tmp_path / "laptop", layout, file_store)
    big = os.urandom(20_000)
    write("w.bin", big)
    run("add", ".")
    run("push")
    h = hashlib.sha256(big).hexdigest()
    obj = Path(file_store.url.removeprefix("file://")) / "sha256" / h[:2] / h[2:4] / h
    os.chmod(obj, 0o644)
    obj.write_bytes(os.urandom(20_000))
    worker = make_project(run, monkeypatch, tmp_path / "worker", layout, file_store)
    r = run("pull")
    assert r.code == 11
    assert not [p for p in worker.rglob("*") if p.is_file() and ".modelops-bundle" not in p.parts
                and p.name != ".modelopsignore"]


def test_external_file_without_store_fails_push_with_2(run, monkeypatch, tmp_path, layout):
    root = tmp_path / "p"
    run("init", str(root), "--registry", f"oci:{layout}")
    monkeypatch.chdir(root)
    run("config", "set", "storage.threshold", "1K")
    write("big.bin", os.urandom(2048))
    run("add", ".")
    r = run("push")
    assert r.code == 2
    assert "big.bin" in r.err and "storage.url" in r.err
    assert not (layout / "index.json").exists() or "big" not in (layout / "index.json").read_text()
    assert run("ls-remote").code != 0 or run("ls-remote").out == ""


def test_unreachable_store_exits_3(run, monkeypatch, tmp_path, layout):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    root = tmp_path / "p"
    run("init", str(root), "--registry", f"oci:{layout}")
    monkeypatch.chdir(root)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    run("config", "set", "storage.url", "s3://bucket/prefix")
    run("config", "set", "storage.options.endpoint_url", f"http://127.0.0.1:{port}")
    run("config", "set", "storage.threshold", "1K")
    write("big.bin", os.urandom(2048))
    run("add", ".")
    r = run("push")
    assert r.code == 3, r.err
    assert "s3://bucket/prefix" in r.err


def test_no_credentials_anywhere_after_push(s3_store, run, monkeypatch, tmp_path, layout):
    secret = "SuperSecretKey-" + os.urandom(6).hex()
    laptop = make_project(run, monkeypatch, tmp_path / "laptop", layout, s3_store)
    # moto accepts any key; the point is that it must not be recorded anywhere
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    write("w.bin", os.urandom(10_000))
    run("add", ".")
    r = run("push")
    assert r.code == 0, r.err
    assert secret not in r.out + r.err
    for root in (laptop, layout):
        for p in root.rglob("*"):
            if p.is_file():
                assert secret.encode() not in p.read_bytes(), p


def test_pull_with_store_unreachable_exits_3_and_leaves_nothing(s3_store, run, monkeypatch, tmp_path, layout):
    import socket

    make_project(run, monkeypatch, tmp_path / "laptop", layout, s3_store)
    write("w.bin", os.urandom(10_000))
    write("small.txt", "registry")
    run("add", ".")
    assert run("push").code == 0
    worker = make_project(run, monkeypatch, tmp_path / "worker", layout, s3_store)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    run("config", "set", "storage.options.endpoint_url", f"http://127.0.0.1:{port}")
    r = run("pull")
    assert r.code == 3, r.err
    assert s3_store.url in r.err
    assert not (worker / "w.bin").exists()
    assert not [p for p in worker.iterdir() if p.name.startswith(".w.bin")]
    assert run("status", "--porcelain").out == ""  # nothing half-applied: index and base unchanged
