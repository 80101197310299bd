"""push / fetch / pull / status / diff against a real registry (distribution 2.8 on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import IN_CI, write


@pytest.fixture
def remote(registry) -> str:
    return f"{registry.host}/{registry.repo('sync')}"


@pytest.fixture
def laptop(tmp_path, run, monkeypatch, remote) -> Path:
    root = tmp_path / "laptop"
    assert run("init", str(root), "--registry", remote).code == 0
    (root / ".gitignore").unlink()
    monkeypatch.chdir(root)
    return root


def clone(run, monkeypatch, tmp_path, remote, name="worker") -> Path:
    root = tmp_path / name
    assert run("init", str(root), "--registry", remote).code == 0
    (root / ".gitignore").unlink()
    monkeypatch.chdir(root)
    return root


def blob_uploads(reqs) -> list:
    """Completed blob uploads: the final PUT of an upload session."""
    return [r for r in reqs if r[0] == "PUT" and "/blobs/uploads/" in r[1]]


def test_round_trip_through_registry(laptop, run, monkeypatch, tmp_path, remote):
    write("models/sir.py", "beta = 0.3\n", mode=0o755)
    write("data/w.bin", os.urandom(2 * 1024 * 1024 + 3))
    run("add", ".")
    r = run("push", "--tag", "v1")
    assert r.code == 0, r.err
    digest = r.out.strip()
    worker = clone(run, monkeypatch, tmp_path, remote)
    assert run("pull", "v1").code == 0
    for rel in ("models/sir.py", "data/w.bin"):
        assert (worker / rel).read_bytes() == (laptop / rel).read_bytes()
    assert os.stat(worker / "models/sir.py").st_mode & 0o111
    assert run("resolve", "v1").out.strip() == f"{remote}@{digest}"
    assert run("status", "--porcelain").out == ""


def test_noop_push_makes_at_most_three_requests(laptop, run, registry):
    write("a.txt", "1")
    run("add", ".")
    first = run("push").out.strip()
    mark = registry.mark()
    r = run("push")
    assert r.code == 0 and r.out.strip() == first and "up to date" in r.err
    assert len(registry.requests(mark)) <= 3, registry.requests(mark)


def test_changing_one_file_uploads_one_blob_plus_config_and_manifest(laptop, run, registry):
    for i in range(50):
        write(f"f{i:02d}.txt", f"content {i}")
    run("add", ".")
    run("push")
    write("f07.txt", "changed")
    run("add", "f07.txt")
    mark = registry.mark()
    assert run("push").code == 0
    reqs = registry.requests(mark)
    assert len(blob_uploads(reqs)) == 2  # the changed file and the new config
    assert len([r for r in reqs if r[0] == "PUT" and "/manifests/" in r[1]]) == 1


def test_push_refuses_when_remote_moved(laptop, run, monkeypatch, tmp_path, remote):
    write("a", "1")
    run("add", "a")
    run("push")
    clone(run, monkeypatch, tmp_path, remote, "colleague")
    run("pull")
    write("b", "2")
    run("add", "b")
    theirs = run("push").out.strip()
    monkeypatch.chdir(laptop)
    write("c", "3")
    run("add", "c")
    r = run("push")
    assert r.code == 12 and theirs in r.err


def test_diff_and_show_of_remote_download_no_file_content(laptop, run, monkeypatch, tmp_path, remote, registry):
    write("big.bin", os.urandom(300_000))
    run("add", ".")
    run("push", "--tag", "v1")
    write("big.bin", os.urandom(300_000))
    write("new.txt", "n")
    run("add", ".")
    run("push", "--tag", "v2")
    clone(run, monkeypatch, tmp_path, remote, "reader")
    mark = registry.mark()
    r = run("diff", f"{remote}:v1", f"{remote}:v2")
    assert r.code == 0, r.err
    assert r.out == "M\tbig.bin\nA\tnew.txt\n"
    blob_gets = [q for q in registry.requests(mark) if q[0] == "GET" and "/blobs/" in q[1]]
    assert len(blob_gets) == 2  # the two configs, no file content


def test_status_says_remote_unavailable_and_exits_0(laptop, run, registry_factory, tmp_path, monkeypatch):
    reg = registry_factory()
    remote = f"{reg.host}/{reg.repo('down')}"
    root = tmp_path / "p"
    run("init", str(root), "--registry", remote)
    monkeypatch.chdir(root)
    write("a", "1")
    run("add", "a")
    assert run("push").code == 0
    r = run("status")
    assert r.code == 0 and "up to date" in r.out
    reg.stop()
    r = run("status")
    assert r.code == 0
    assert "unavailable" in r.out


def test_unreachable_registry_exits_3(laptop, run, monkeypatch, tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    from mops.config import Config

    cfg = Config.load(laptop / ".modelops-bundle" / "config.yaml")
    cfg.set("remote.timeout", "2")
    cfg.save()
    write("a", "1")
    run("add", "a")
    r = run("push", f"127.0.0.1:{port}/nobody/home")
    assert r.code == 3
    assert f"127.0.0.1:{port}" in r.err


def test_push_with_basic_auth_from_environment(auth_registry, run, tmp_path, monkeypatch):
    remote = f"{auth_registry.host}/{auth_registry.repo('auth')}"
    root = tmp_path / "p"
    run("init", str(root), "--registry", remote)
    monkeypatch.chdir(root)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    write("a", "secret-free")
    run("add", "a")
    r = run("push")
    assert r.code == 10
    monkeypatch.setenv("MOPS_REGISTRY_USERNAME", auth_registry.user)
    monkeypatch.setenv("MOPS_REGISTRY_PASSWORD", auth_registry.password)
    r = run("push")
    assert r.code == 0, r.err
    assert auth_registry.password not in r.out + r.err
    for p in root.rglob("*"):
        if p.is_file():
            assert auth_registry.password.encode() not in p.read_bytes(), p


def test_mount_from_another_repository(registry, run, tmp_path, monkeypatch):
    a = f"{registry.host}/{registry.repo('mount-a')}"
    b = f"{registry.host}/{registry.repo('mount-b')}"
    root = tmp_path / "p"
    run("init", str(root), "--registry", a)
    monkeypatch.chdir(root)
    run("remote", "add", "second", b)
    write("model.bin", os.urandom(200_000))
    run("add", ".")
    assert run("push").code == 0
    mark = registry.mark()
    assert run("push", "second").code == 0
    reqs = registry.requests(mark)
    mounts = [q for q in reqs if q[0] == "POST" and "mount=" in q[1]]
    assert mounts, reqs
    assert not [q for q in reqs if q[0] == "PATCH"]


@pytest.mark.skipif(shutil.which("skopeo") is None and not IN_CI, reason="skopeo not installed")
def test_skopeo_interop(laptop, run, registry, remote, tmp_path):
    write("models/m.py", "x = 1\n")
    write("data/d.csv", "a,b\n1,2\n")
    run("add", ".")
    digest = run("push", "--tag", "v1").out.strip()
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{remote}:v1"],
                         capture_output=True, check=True).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    out = tmp_path / "skopeo-copy"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{remote}:v1", f"oci:{out}:v1"],
                   check=True, capture_output=True)
    assert (out / "blobs" / "sha256" / digest.split(":")[1]).read_bytes() == raw


def test_stock_oras_client_rebuilds_the_tree(laptop, run, remote, tmp_path):
    """Layer titles are the full relative paths, so an ORAS client that knows nothing of mops
    recreates the tree (registry-stored files; the config is mops' own)."""
    import oras.client

    write("models/sir.py", "beta = 0.3\n")
    write("data/cases.csv", "day,cases\n1,3\n")
    run("add", ".")
    assert run("push", "--tag", "v1").code == 0
    out = tmp_path / "oras-out"
    client = oras.client.OrasClient(hostname=remote.split("/")[0], insecure=True)
    client.pull(target=f"{remote}:v1", outdir=str(out))
    assert (out / "models/sir.py").read_text() == "beta = 0.3\n"
    assert (out / "data/cases.csv").read_text() == "day,cases\n1,3\n"


def test_big_files_stream_past_the_object_store(laptop, run, monkeypatch, tmp_path, remote, registry):
    """A pulled file above core.big_file_threshold is written once (not also kept in the object
    store), and it can be pushed again from the worktree."""
    big = os.urandom(3 * 1024 * 1024)
    write("weights.bin", big)
    write("copy.bin", big)
    write("small.txt", "s")
    run("add", ".")
    assert run("push").code == 0
    worker = clone(run, monkeypatch, tmp_path, remote)
    run("config", "set", "core.big_file_threshold", "1MiB")
    mark = registry.mark()
    assert run("pull").code == 0
    assert (worker / "weights.bin").read_bytes() == big == (worker / "copy.bin").read_bytes()
    big_gets = [q for q in registry.requests(mark) if q[0] == "GET" and hashlib.sha256(big).hexdigest() in q[1]]
    assert len(big_gets) == 1  # one download for two paths
    objects = worker / ".modelops-bundle" / "objects" / "sha256"
    assert not list(objects.rglob(hashlib.sha256(big).hexdigest()))
    assert run("status", "--porcelain").out == ""
    write("small.txt", "changed")
    run("add", "small.txt")
    assert run("push").code == 0
    assert run("cat-file", "-s", "sha256:" + hashlib.sha256(big).hexdigest()).out.strip() == str(len(big))
