"""External files on the worker path, for real: materialize (and --lazy), verify, export, gc --remote.

Bundles are pushed to an oci: layout with their large files in a real store (a directory, moto's
S3, Azurite, fake-gcs-server on 127.0.0.1); the worker side runs outside any project, as a worker
does, with only the store's standard environment.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
from pathlib import Path

import pytest
from conftest import write
from helpers_bundle import tree

from mops import pointer

THRESHOLD = 4096
BIG = os.urandom(300_000)
OTHER = os.urandom(120_000)
FILES = {"model.py": b"print('sir')\n", "data/weights.bin": BIG, "data/extra.bin": OTHER, "small.txt": b"small\n"}
EXTERNAL = {"data/weights.bin", "data/extra.bin"}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("MOPS_CACHE", str(d))
    return d


@pytest.fixture
def layout(tmp_path) -> Path:
    return tmp_path / "bundles"


def publish(run, monkeypatch, tmp_path: Path, layout: Path, store, files=FILES, tag="v1", name="laptop") -> str:
    """Push ``files`` from project ``tmp_path/name`` (large ones to ``store``); return the digest.
    Leaves the cwd outside any project, where a worker runs."""
    root = tmp_path / name
    if not root.exists():
        assert run("init", str(root), "--registry", f"oci:{layout}").code == 0
        (root / ".gitignore").unlink()
        monkeypatch.chdir(root)
        store.configure(run)
        assert run("config", "set", "storage.threshold", str(THRESHOLD)).code == 0
    monkeypatch.chdir(root)
    for rel, data in files.items():
        write(rel, data)
    assert run("add", "-A", ".").code == 0
    r = run("push", "--tag", tag)
    assert r.code == 0, r.err
    show = json.loads(run("show", tag, "--json").out)
    assert {f["path"] for f in show["files"] if f["storage"] == "external"} == {p for p, d in files.items() if len(d) >= THRESHOLD}
    monkeypatch.chdir(tmp_path)
    return r.out.strip()


def as_worker(store, monkeypatch) -> None:
    """A worker has no project config: an S3 endpoint comes from the standard environment."""
    if store.kind == "s3":
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", store.options["endpoint_url"])


def hexof(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cached(cache_dir: Path, data: bytes) -> Path:
    h = hexof(data)
    return cache_dir / "objects" / "sha256" / h[:2] / h


def tamper(store, data: bytes, new: bytes) -> None:
    """Replace the stored object of ``data`` with ``new`` behind mops' back."""
    h = hexof(data)
    key = f"sha256/{h[:2]}/{h[2:4]}/{h}"
    if store.kind == "file":
        obj = Path(store.url.removeprefix("file://")) / key
        os.chmod(obj, 0o644)
        with open(obj, "r+b") as f:  # in place, as a careless tool would
            f.write(new)
            f.truncate()
    elif store.kind == "s3":
        import boto3

        bucket, _, prefix = store.url.removeprefix("s3://").partition("/")
        boto3.client("s3", endpoint_url=store.options["endpoint_url"], region_name="us-east-1").put_object(
            Bucket=bucket, Key=f"{prefix}/{key}", Body=new)
    else:
        raise AssertionError(store.kind)


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# -- materialize ------------------------------------------------------------------------------------


def test_materialize_fetches_external_files_through_the_shared_cache(any_store, run, monkeypatch, tmp_path, layout, cache_dir):
    digest = publish(run, monkeypatch, tmp_path, layout, any_store)
    as_worker(any_store, monkeypatch)
    r = run("materialize", "--json", f"oci:{layout}@{digest}", "w1")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert tree(tmp_path / "w1") == FILES  # byte-identical, and nothing else in DEST
    assert doc["objects_fetched"] == len(FILES)
    assert cached(cache_dir, BIG).stat().st_mode & 0o777 == 0o444  # verified, read-only, shared
    # a second worker directory on the machine fetches nothing: not from the registry, not from the store
    r = run("materialize", "--json", f"oci:{layout}@{digest}", "w2")
    assert r.code == 0, r.err
    assert json.loads(r.out)["objects_fetched"] == 0
    assert tree(tmp_path / "w2") == FILES


def test_materialize_inside_the_project_uses_its_store_options(s3_store, run, monkeypatch, tmp_path, layout):
    publish(run, monkeypatch, tmp_path, layout, s3_store)
    monkeypatch.chdir(tmp_path / "laptop")  # the endpoint comes from storage.options.endpoint_url
    r = run("materialize", "v1", str(tmp_path / "out"))
    assert r.code == 0, r.err
    assert tree(tmp_path / "out") == FILES


def test_unreachable_file_store_exits_3_naming_it_and_leaves_dest_alone(file_store, run, monkeypatch, tmp_path, layout, cache_dir):
    digest = publish(run, monkeypatch, tmp_path, layout, file_store)
    store_dir = Path(file_store.url.removeprefix("file://"))
    store_dir.rename(tmp_path / "unmounted")  # the share is not mounted on this worker
    write(tmp_path / "old" / "notes.txt", b"mine\n")
    for dest in ("fresh", "old"):
        r = run("materialize", f"oci:{layout}@{digest}", dest)
        assert r.code == 3, r.err
        assert file_store.url in r.err
    assert not (tmp_path / "fresh").exists()  # not even an empty directory
    assert tree(tmp_path / "old") == {"notes.txt": b"mine\n"}  # no registry file either: all or nothing
    assert not cached(cache_dir, BIG).exists()
    (tmp_path / "unmounted").rename(store_dir)
    assert run("materialize", f"oci:{layout}@{digest}", "fresh").code == 0
    assert tree(tmp_path / "fresh") == FILES


def test_unreachable_s3_store_exits_3_naming_it(s3_store, run, monkeypatch, tmp_path, layout):
    digest = publish(run, monkeypatch, tmp_path, layout, s3_store)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    r = run("materialize", f"oci:{layout}@{digest}", "out")
    assert r.code == 3, r.err
    assert s3_store.url in r.err and "testing" not in r.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_tampered_external_object_exits_11_and_leaves_no_partial_file(kind, request, run, monkeypatch, tmp_path, layout, cache_dir):
    store = request.getfixturevalue(f"{kind}_store")
    digest = publish(run, monkeypatch, tmp_path, layout, store)
    as_worker(store, monkeypatch)
    tamper(store, BIG, os.urandom(len(BIG)))  # same size: only the digest tells
    r = run("materialize", f"oci:{layout}@{digest}", "out")
    assert r.code == 11, r.err
    assert "data/weights.bin" in r.err and store.url in r.err
    assert not (tmp_path / "out").exists()
    assert not cached(cache_dir, BIG).exists()
    assert files_under(cache_dir / "tmp") == []  # the rejected download is gone too
    # a longer object is refused without being downloaded into the cache at all
    tamper(store, BIG, BIG + b"x")
    r = run("materialize", f"oci:{layout}@{digest}", "out")
    assert r.code == 11 and "data/weights.bin" in r.err
    assert not (tmp_path / "out").exists() and files_under(cache_dir / "tmp") == []
    tamper(store, BIG, BIG)  # repaired: the next run completes
    assert run("materialize", f"oci:{layout}@{digest}", "out").code == 0
    assert tree(tmp_path / "out") == FILES


def test_missing_external_object_exits_11(file_store, run, monkeypatch, tmp_path, layout):
    digest = publish(run, monkeypatch, tmp_path, layout, file_store)
    h = hexof(OTHER)
    os.unlink(Path(file_store.url.removeprefix("file://")) / "sha256" / h[:2] / h[2:4] / h)
    r = run("materialize", f"oci:{layout}@{digest}", "out")
    assert r.code == 11
    assert "data/extra.bin" in r.err and "missing" in r.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_lazy_writes_pointers_and_a_later_run_brings_the_content(kind, request, run, monkeypatch, tmp_path, layout, cache_dir):
    store = request.getfixturevalue(f"{kind}_store")
    digest = publish(run, monkeypatch, tmp_path, layout, store)
    as_worker(store, monkeypatch)
    r = run("materialize", "--lazy", "--json", f"oci:{layout}@{digest}", "out")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert sorted(doc["pointers"]) == sorted(EXTERNAL)
    out = tmp_path / "out"
    for rel in EXTERNAL:
        p = pointer.read(out / rel)
        assert (p.digest, p.size, p.path) == ("sha256:" + hexof(FILES[rel]), len(FILES[rel]), rel)
        assert p.uri.startswith(store.url + "/sha256/")
    assert {rel: data for rel, data in tree(out).items() if rel not in EXTERNAL} == {
        rel: data for rel, data in FILES.items() if rel not in EXTERNAL}
    assert not cached(cache_dir, BIG).exists()  # nothing was downloaded from the store
    # lazy again: the pointers are right as they are
    r = run("materialize", "--lazy", "--json", f"oci:{layout}@{digest}", "out")
    assert r.code == 0 and json.loads(r.out)["up_to_date"] is True
    # without --lazy the pointers are replaced by verified content (no --overwrite needed)
    r = run("materialize", "--json", f"oci:{layout}@{digest}", "out")
    assert r.code == 0, r.err
    assert sorted(json.loads(r.out)["written"]) == sorted(EXTERNAL)
    assert tree(out) == FILES
    # and --lazy on a complete directory leaves the content in place
    r = run("materialize", "--lazy", "--json", f"oci:{layout}@{digest}", "out")
    assert r.code == 0 and json.loads(r.out)["pointers"] == []
    assert tree(out) == FILES


def test_lazy_pointer_of_another_bundle_is_a_conflict(file_store, run, monkeypatch, tmp_path, layout):
    d1 = publish(run, monkeypatch, tmp_path, layout, file_store)
    assert run("materialize", "--lazy", f"oci:{layout}@{d1}", "out").code == 0
    new = os.urandom(len(BIG))
    d2 = publish(run, monkeypatch, tmp_path, layout, file_store, {**FILES, "data/weights.bin": new}, tag="v2")
    r = run("materialize", f"oci:{layout}@{d2}", "out")
    assert r.code == 12 and "data/weights.bin" in r.err
    assert pointer.read(tmp_path / "out/data/weights.bin").digest == "sha256:" + hexof(BIG)  # unchanged
    assert run("materialize", "--overwrite", f"oci:{layout}@{d2}", "out").code == 0
    assert (tmp_path / "out/data/weights.bin").read_bytes() == new


def test_lazy_dry_run_lists_pointers(file_store, run, monkeypatch, tmp_path, layout):
    digest = publish(run, monkeypatch, tmp_path, layout, file_store)
    r = run("materialize", "--lazy", "--dry-run", f"oci:{layout}@{digest}", "out")
    assert r.code == 0, r.err
    assert set(r.out.splitlines()) == {"pointer data/weights.bin", "pointer data/extra.bin", "write model.py",
                                       "write small.txt"}
    assert not (tmp_path / "out").exists()


# -- verify -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_verify_checks_external_objects_and_lists_every_mismatch(kind, request, run, monkeypatch, tmp_path, layout):
    store = request.getfixturevalue(f"{kind}_store")
    digest = publish(run, monkeypatch, tmp_path, layout, store)
    as_worker(store, monkeypatch)
    ref = f"oci:{layout}@{digest}"
    r = run("verify", ref)
    assert r.code == 0, r.err
    tamper(store, BIG, os.urandom(len(BIG)))  # same size
    tamper(store, OTHER, OTHER[:-1])  # one byte short
    r = run("verify", "--json", ref)  # a fresh machine: no etag recorded, so only the size tells
    assert r.code == 11
    assert [m["path"] for m in json.loads(r.out)["mismatches"]] == ["data/extra.bin"]
    r = run("verify", "--full", ref)
    assert r.code == 11
    assert "data/weights.bin" in r.err and "data/extra.bin" in r.err and store.url in r.err
    doc = json.loads(run("verify", "--full", "--json", ref).out)
    assert doc["ok"] is False and sorted(m["path"] for m in doc["mismatches"]) == ["data/extra.bin", "data/weights.bin"]


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_plain_verify_catches_a_same_size_rewrite_once_an_etag_was_recorded(kind, request, run, monkeypatch, tmp_path, layout):
    store = request.getfixturevalue(f"{kind}_store")
    digest = publish(run, monkeypatch, tmp_path, layout, store)
    as_worker(store, monkeypatch)
    ref = f"oci:{layout}@{digest}"
    assert run("materialize", ref, "out").code == 0  # its downloads verified: their etags are remembered
    tamper(store, BIG, os.urandom(len(BIG)))
    r = run("verify", "--json", ref)
    assert r.code == 11
    [m] = json.loads(r.out)["mismatches"]
    assert m["path"] == "data/weights.bin" and "changed" in m["problem"]
    # the right bytes uploaded again (a new etag for the same content) are not a mismatch
    tamper(store, BIG, BIG)
    assert run("verify", ref).code == 0
    # a --full verify records etags too, on a machine that never downloaded the files
    monkeypatch.setenv("MOPS_CACHE", str(tmp_path / "other-cache"))
    assert run("verify", "--full", ref).code == 0
    tamper(store, OTHER, os.urandom(len(OTHER)))
    r = run("verify", ref)
    assert r.code == 11 and "data/extra.bin" in r.err


def test_verify_of_an_unmounted_file_store_exits_3(file_store, run, monkeypatch, tmp_path, layout):
    digest = publish(run, monkeypatch, tmp_path, layout, file_store)
    store_dir = Path(file_store.url.removeprefix("file://"))
    store_dir.rename(tmp_path / "elsewhere")
    r = run("verify", f"oci:{layout}@{digest}")
    assert r.code == 3 and file_store.url in r.err


# -- export -----------------------------------------------------------------------------------------


def archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_export_carries_pointers_or_with_include_external_the_content(any_store, run, monkeypatch, tmp_path, layout):
    digest = publish(run, monkeypatch, tmp_path, layout, any_store)
    as_worker(any_store, monkeypatch)
    ref = f"oci:{layout}@{digest}"
    r = run("export", "--json", ref, "lazy.tar")
    assert r.code == 0, r.err
    assert json.loads(r.out)["pointers"] == 2
    members = archive(tmp_path / "lazy.tar")
    assert sorted(members) == sorted(FILES)
    for rel in EXTERNAL:
        p = pointer.Pointer.from_bytes(members[rel], rel)  # mops.pointer's format, byte for byte
        assert members[rel] == p.to_bytes()
        assert (p.digest, p.size, p.path) == ("sha256:" + hexof(FILES[rel]), len(FILES[rel]), rel)
        assert p.uri.startswith(any_store.url + "/sha256/")
    assert {k: v for k, v in members.items() if k not in EXTERNAL} == {k: v for k, v in FILES.items() if k not in EXTERNAL}
    r = run("export", "--include-external", ref, "full.tar.zst")
    assert r.code == 0, r.err
    assert run("export", "--include-external", ref, "again.tar.zst").code == 0
    assert (tmp_path / "full.tar.zst").read_bytes() == (tmp_path / "again.tar.zst").read_bytes()
    import zstandard

    raw = zstandard.ZstdDecompressor().stream_reader(open(tmp_path / "full.tar.zst", "rb")).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert {m.name: tar.extractfile(m).read() for m in tar.getmembers()} == FILES


def test_export_include_external_of_a_tampered_object_exits_11_and_writes_no_archive(file_store, run, monkeypatch, tmp_path,
                                                                                    layout):
    digest = publish(run, monkeypatch, tmp_path, layout, file_store)
    tamper(file_store, BIG, os.urandom(len(BIG)))
    r = run("export", "--include-external", f"oci:{layout}@{digest}", "out.tar")
    assert r.code == 11 and "data/weights.bin" in r.err
    assert not list(tmp_path.glob("*out.tar*"))
    assert run("export", f"oci:{layout}@{digest}", "out.tar").code == 0  # pointers need no download


def test_export_index_after_a_lazy_pull_fetches_the_content(file_store, run, monkeypatch, tmp_path, layout):
    publish(run, monkeypatch, tmp_path, layout, file_store)
    worker = tmp_path / "worker"
    assert run("init", str(worker), "--registry", f"oci:{layout}").code == 0
    monkeypatch.chdir(worker)
    file_store.configure(run)
    assert run("pull", "--lazy", "v1").code == 0
    assert pointer.is_pointer(worker / "data/weights.bin")
    # this project's policy keeps every file in the registry: the archive needs all the content
    r = run("export", "--index", str(tmp_path / "idx.tar"))
    assert r.code == 0, r.err
    assert archive(tmp_path / "idx.tar") == FILES
    assert run("config", "set", "storage.threshold", str(THRESHOLD)).code == 0
    r = run("export", "--index", "--include-external", str(tmp_path / "all.tar"))
    assert r.code == 0, r.err
    assert archive(tmp_path / "all.tar") == FILES
    r = run("export", "--index", str(tmp_path / "ptr.tar"))
    assert r.code == 0, r.err
    assert pointer.Pointer.from_bytes(archive(tmp_path / "ptr.tar")["data/weights.bin"]).digest == "sha256:" + hexof(BIG)


# -- gc --remote ------------------------------------------------------------------------------------


def test_gc_remote_lists_unreachable_external_objects_and_prunes_only_with_prune_now(file_store, run, monkeypatch, tmp_path,
                                                                                      layout):
    publish(run, monkeypatch, tmp_path, layout, file_store)
    new = os.urandom(len(BIG))
    publish(run, monkeypatch, tmp_path, layout, file_store, {**FILES, "data/weights.bin": new})  # v1 moves on
    store_dir = Path(file_store.url.removeprefix("file://"))

    def stored(data: bytes) -> Path:
        h = hexof(data)
        return store_dir / "sha256" / h[:2] / h[2:4] / h

    monkeypatch.chdir(tmp_path / "laptop")
    r = run("gc", "--remote")
    assert r.code == 0, r.err
    old = "sha256:" + hexof(BIG)
    lines = [ln for ln in r.out.splitlines() if " external " in ln]
    assert lines == [f"would delete external {old} {file_store.url}/sha256/{old[7:9]}/{old[9:11]}/{old[7:]}"]
    assert stored(BIG).exists()  # a dry run
    doc = json.loads(run("gc", "--remote", "--json").out)["remote"]
    assert doc["external"] == [old] and doc["deleted"] is False
    r = run("gc", "--remote", "--prune-now")
    assert r.code == 0, r.err
    assert not stored(BIG).exists()
    assert stored(new).exists() and stored(OTHER).exists()  # what v1 still uses stays
    monkeypatch.chdir(tmp_path)
    assert run("materialize", f"oci:{layout}:v1", "w").code == 0
    assert tree(tmp_path / "w") == {**FILES, "data/weights.bin": new}


def test_gc_remote_keeps_objects_another_remote_still_tags(file_store, run, monkeypatch, tmp_path, layout):
    publish(run, monkeypatch, tmp_path, layout, file_store)
    monkeypatch.chdir(tmp_path / "laptop")
    archive_layout = tmp_path / "archive"
    assert run("remote", "add", "archive", f"oci:{archive_layout}").code == 0
    assert run("push", "archive", "--tag", "v1").code == 0  # the same bundle, tagged on a second remote
    publish(run, monkeypatch, tmp_path, layout, file_store, {**FILES, "data/weights.bin": os.urandom(9000)})
    monkeypatch.chdir(tmp_path / "laptop")
    doc = json.loads(run("gc", "--remote", "--json").out)["remote"]
    assert doc["external"] == []  # origin no longer reaches BIG, but archive:v1 does
    # a remote that cannot be read: nothing external is offered for deletion
    import shutil

    shutil.rmtree(archive_layout)
    r = run("gc", "--remote", "--prune-now", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)["remote"]
    assert doc["external"] == [] and any("archive" in n for n in doc["notes"])
    h = hexof(BIG)
    assert (Path(file_store.url.removeprefix("file://")) / "sha256" / h[:2] / h[2:4] / h).exists()


# -- many workers -----------------------------------------------------------------------------------


def test_eight_workers_on_a_cold_cache_read_each_s3_object_once(s3_store, run, monkeypatch, tmp_path, layout, cache_dir):
    import subprocess
    import sys

    digest = publish(run, monkeypatch, tmp_path, layout, s3_store)
    bucket = s3_store.url.removeprefix("s3://").split("/")[0]
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": s3_store.options["endpoint_url"], "MOPS_CACHE": str(cache_dir)}
    procs = [subprocess.Popen([sys.executable, "-m", "mops", "materialize", f"oci:{layout}@{digest}", f"w{i}"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(8)]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    for i in range(8):
        assert tree(tmp_path / f"w{i}") == FILES
    # moto's request log: one GET of each object's body for all eight processes together
    log = s3_store.server.log.read_text(errors="replace").splitlines()
    for data in (BIG, OTHER):
        h = hexof(data)
        gets = [ln for ln in log if f'"GET /{bucket}/models/sha256/{h[:2]}/{h[2:4]}/{h} ' in ln]
        assert len(gets) == 1, gets


def test_verify_in_a_project_after_a_lazy_pull_checks_the_store_not_the_pointers(file_store, run, monkeypatch, tmp_path, layout):
    publish(run, monkeypatch, tmp_path, layout, file_store)
    worker = tmp_path / "worker"
    assert run("init", str(worker), "--registry", f"oci:{layout}").code == 0
    monkeypatch.chdir(worker)
    file_store.configure(run)
    assert run("pull", "--lazy", "v1").code == 0
    for args in ((), ("--full",)):
        r = run("verify", *args)
        assert r.code == 0, r.err
    tamper(file_store, BIG, os.urandom(len(BIG)))
    r = run("verify", "--full")
    assert r.code == 11
    assert "data/weights.bin" in r.err and "modified" not in r.err and file_store.url in r.err
