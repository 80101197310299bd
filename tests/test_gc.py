"""mops gc: local objects, the shared cache, and the remote (dry run unless --prune-now)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from conftest import write
from helpers_bundle import publish, tree


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MOPS_CACHE", str(tmp_path / "cache"))


def obj(root, data: bytes):
    h = hashlib.sha256(data).hexdigest()
    return root / ".modelops-bundle" / "objects" / "sha256" / h[:2] / h


def test_gc_drops_only_unreachable_local_objects(run, project):
    write("keep.txt", "staged and kept")
    write("drop.txt", "staged then replaced")
    run("add", ".")
    write("drop.txt", "the new content")
    run("add", ".")
    assert obj(project, b"staged then replaced").exists()
    r = run("gc", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["schema"] == "mops.gc/v1"
    assert "sha256:" + hashlib.sha256(b"staged then replaced").hexdigest() in doc["local"]["removed"]
    assert not obj(project, b"staged then replaced").exists()
    assert obj(project, b"staged and kept").exists() and obj(project, b"the new content").exists()
    assert run("fsck").code == 0


def test_gc_keeps_what_refs_and_reflog_reach(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, {"a.txt": b"version one"})
    root = tmp_path / "laptop"
    monkeypatch.chdir(root)
    write("a.txt", "version two")
    run("add", ".")
    assert run("push").code == 0
    assert run("gc").code == 0
    assert obj(root, b"version one").exists()  # the first push is in the reflog
    assert run("fsck").code == 0


def test_gc_remote_lists_then_prunes_only_with_prune_now(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, {"old.bin": b"old weights"}, tag="v1", name="p1")
    publish(run, tmp_path, store, {"new.bin": b"new weights"}, tag="v2")
    monkeypatch.chdir(tmp_path / "laptop")
    # move v1 onto v2's content: the first bundle is now reachable from no tag
    from mops.ocilayout import OCILayoutTarget

    t = OCILayoutTarget(store)
    d2, m2 = t.resolve("v2")
    t.put_manifest(m2, d2, "v1")
    old = "sha256:" + hashlib.sha256(b"old weights").hexdigest()
    r = run("gc", "--remote")
    assert r.code == 0, r.err
    assert f"would delete blob {old}" in r.out
    assert (store / "blobs" / "sha256" / old[7:]).exists()  # a dry run by default
    r = run("gc", "--remote", "--prune-now")
    assert r.code == 0, r.err
    assert not (store / "blobs" / "sha256" / old[7:]).exists()
    monkeypatch.chdir(tmp_path)
    assert run("verify", "--full", f"oci:{store}:v1").code == 0
    assert run("materialize", f"oci:{store}:v2", "w").code == 0
    assert tree(tmp_path / "w") == {"new.bin": b"new weights"}
    assert run("gc", "--remote", "--prune-now").code == 2  # outside a project: no origin to name


def test_prune_now_needs_remote(run, project):
    assert run("gc", "--prune-now").code == 2


def test_gc_cache_evicts_least_recently_used(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    big1, big2 = os.urandom(300_000), os.urandom(300_000)
    d1 = publish(run, tmp_path, store, {"w.bin": big1}, tag="one", name="p1")
    d2 = publish(run, tmp_path, store, {"w.bin": big2}, tag="two", name="p2")
    monkeypatch.chdir(tmp_path)
    assert run("materialize", f"oci:{store}@{d1}", "a").code == 0
    assert run("materialize", f"oci:{store}@{d2}", "b").code == 0
    cache = tmp_path / "cache"
    h1, h2 = hashlib.sha256(big1).hexdigest(), hashlib.sha256(big2).hexdigest()
    os.utime(cache / "bundles" / f"{d1[7:]}.json", (1, 1))  # bundle one: used long ago
    os.utime(cache / "bundles" / f"{d2[7:]}.json", None)
    monkeypatch.chdir(tmp_path / "p1")
    from mops.config import Config

    cfg = Config.load(tmp_path / "p1" / ".modelops-bundle" / "config.yaml")
    cfg.set("cache.max_size", "400K")
    cfg.save()
    r = run("gc", "--cache", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)["cache"]
    assert doc["size_after"] <= 400 * 1024 < doc["size_before"]
    assert not (cache / "objects" / "sha256" / h1[:2] / h1).exists()
    assert (cache / "objects" / "sha256" / h2[:2] / h2).exists()
    assert (tmp_path / "a" / "w.bin").read_bytes() == big1  # a hardlinked destination keeps its file
    monkeypatch.chdir(tmp_path)
    assert run("materialize", f"oci:{store}@{d1}", "c").code == 0  # evicted: fetched again
    assert (tmp_path / "c" / "w.bin").read_bytes() == big1
