"""mops verify: every blob and object against its digest; exit 11 listing each mismatch."""

from __future__ import annotations

import hashlib
import os

import pytest
from conftest import write
from helpers_bundle import publish

FILES = {"model.py": b"x = 1\n", "data/a.bin": os.urandom(50_000), "data/b.bin": os.urandom(60_000)}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MOPS_CACHE", str(tmp_path / "cache"))


def blob(store, data: bytes):
    return store / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()


def test_intact_bundle_verifies(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    r = run("verify", "--full", f"oci:{store}:v1")
    assert r.code == 0, r.err
    assert r.out.strip() == "ok"


def test_missing_and_corrupt_blobs_are_each_listed(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    os.unlink(blob(store, FILES["data/a.bin"]))
    p = blob(store, FILES["data/b.bin"])
    os.chmod(p, 0o644)
    p.write_bytes(b"\0" * len(FILES["data/b.bin"]))  # same size: only hashing sees it
    r = run("verify", f"oci:{store}:v1")
    assert r.code == 11
    assert "data/a.bin" in r.err and "missing" in r.err
    assert "data/b.bin" in r.err  # registry blobs are always checked against their digest
    r = run("verify", "--full", "--json", f"oci:{store}:v1")
    assert r.code == 11
    import json

    doc = json.loads(r.out)
    assert doc["schema"] == "mops.verify/v1" and doc["ok"] is False
    assert sorted(m["path"] for m in doc["mismatches"]) == ["data/a.bin", "data/b.bin"]


def test_role_limits_what_is_checked(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES, roles={"code": ["*.py"]})
    monkeypatch.chdir(tmp_path)
    os.unlink(blob(store, FILES["data/a.bin"]))
    assert run("verify", "--role", "code", f"oci:{store}:v1").code == 0
    assert run("verify", f"oci:{store}:v1").code == 11
    r = run("verify", "--role", "nope", f"oci:{store}:v1")
    assert r.code == 2 and "code" in r.err


def test_in_a_project_checks_worktree_and_last_synced_bundle(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path / "laptop")
    r = run("verify")
    assert r.code == 0, r.err
    write("model.py", "x = 2\n")
    os.unlink("data/a.bin")
    r = run("verify")
    assert r.code == 11
    assert "model.py" in r.err and "modified" in r.err
    assert "data/a.bin" in r.err and "deleted" in r.err
    write("model.py", "x = 1\n")
    write("data/a.bin", FILES["data/a.bin"])
    assert run("verify", "--full").code == 0
    os.unlink(blob(store, FILES["data/b.bin"]))
    r = run("verify")
    assert r.code == 11 and "data/b.bin" in r.err and "missing" in r.err
