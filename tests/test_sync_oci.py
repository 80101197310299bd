"""push / fetch / pull through an oci: layout directory: the embedded default remote."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import write


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "bundles"


@pytest.fixture
def laptop(tmp_path, run, monkeypatch, store) -> Path:
    root = tmp_path / "laptop"
    assert run("init", str(root), "--registry", f"oci:{store}").code == 0
    (root / ".gitignore").unlink()
    monkeypatch.chdir(root)
    return root


def clone(run, monkeypatch, tmp_path, store, name="worker") -> Path:
    root = tmp_path / name
    assert run("init", str(root), "--registry", f"oci:{store}").code == 0
    (root / ".gitignore").unlink()
    monkeypatch.chdir(root)
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".modelops-bundle" not in p.parts}


def test_round_trip_is_byte_identical_and_keeps_modes(laptop, run, monkeypatch, tmp_path, store):
    write("models/sir.py", "print('sir')\n", mode=0o755)
    write("data/big.bin", os.urandom(3 * 1024 * 1024))
    write("empty.txt", b"")
    assert run("add", ".").code == 0
    r = run("push", "--tag", "v1")
    assert r.code == 0, r.err
    digest = r.out.strip()
    assert digest.startswith("sha256:")
    src = files_of(laptop)
    worker = clone(run, monkeypatch, tmp_path, store)
    r = run("pull", "v1")
    assert r.code == 0, r.err
    assert files_of(worker) == src
    assert os.stat(worker / "models/sir.py").st_mode & 0o111
    assert not os.stat(worker / "data/big.bin").st_mode & 0o111
    assert run("status", "--porcelain").out == ""
    assert run("resolve", "v1").out.strip() == f"oci:{store}@{digest}"


def test_same_content_same_digest_in_two_clones_and_tags(laptop, run, monkeypatch, tmp_path, store):
    write("b.txt", "b")
    write("a/x.txt", "x")
    run("add", "b.txt")
    run("add", "a")
    d1 = run("push", "--tag", "one").out.strip()
    other = clone(run, monkeypatch, tmp_path, tmp_path / "elsewhere", "other")
    write("a/x.txt", "x")
    write("b.txt", "b")
    os.utime("b.txt", ns=(1, 1))
    run("add", "a/x.txt", "b.txt")
    d2 = run("push", "--tag", "two").out.strip()
    assert d1 == d2
    manifest = json.loads((tmp_path / "elsewhere" / "blobs" / "sha256" / d2.split(":")[1]).read_bytes())
    assert "annotations" not in manifest  # no created timestamp unless asked
    assert manifest["artifactType"] == "application/vnd.modelops.bundle.v1"
    assert [lay["annotations"]["org.opencontainers.image.title"] for lay in manifest["layers"]] == ["a/x.txt", "b.txt"]
    assert other.exists()


def test_noop_push_says_up_to_date(laptop, run):
    write("a", "1")
    run("add", "a")
    d = run("push").out.strip()
    r = run("push")
    assert r.code == 0 and r.out.strip() == d and "up to date" in r.err


def test_push_refuses_when_someone_else_pushed(laptop, run, monkeypatch, tmp_path, store):
    write("a", "1")
    run("add", "a")
    first = run("push").out.strip()
    clone(run, monkeypatch, tmp_path, store, "colleague")
    run("pull")
    write("b", "2")
    run("add", "b")
    theirs = run("push").out.strip()
    monkeypatch.chdir(laptop)
    write("c", "3")
    run("add", "c")
    r = run("push")
    assert r.code == 12
    assert theirs in r.err and first in r.err
    assert run("ls-remote").out.split("\t")[0] == theirs  # tag not moved
    assert run("push", "--force").code == 0


def test_push_dry_run_lists_uploads_and_removals(laptop, run):
    write("a", "1")
    write("b", "2")
    run("add", ".")
    run("push")
    run("rm", "b")
    write("c", "33")
    run("add", "c")
    r = run("push", "--dry-run")
    assert r.code == 0
    assert "remove b" in r.out.splitlines()
    assert any(line.startswith("upload ") and line.endswith(" c") for line in r.out.splitlines())
    assert run("status", "--porcelain").out == "D  b\nA  c\n"  # nothing moved


def test_pull_three_way(laptop, run, monkeypatch, tmp_path, store):
    write("shared.txt", "base")
    write("mine.txt", "base")
    write("theirs.txt", "base")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    assert run("pull").code == 0
    # the colleague (laptop) changes theirs.txt and adds new.txt
    monkeypatch.chdir(laptop)
    write("theirs.txt", "remote change")
    write("new.txt", "added remotely")
    run("add", ".")
    run("push")
    # the worker changes mine.txt locally
    monkeypatch.chdir(worker)
    write("mine.txt", "local change")
    mtime = os.stat("shared.txt").st_mtime_ns
    r = run("pull")
    assert r.code == 0, r.err
    assert Path("theirs.txt").read_text() == "remote change"
    assert Path("new.txt").read_text() == "added remotely"
    assert Path("mine.txt").read_text() == "local change"
    assert os.stat("shared.txt").st_mtime_ns == mtime  # unchanged files are not rewritten
    assert run("status", "--porcelain").out == " M mine.txt\n"


def test_pull_conflict_changes_nothing(laptop, run, monkeypatch, tmp_path, store):
    write("f.txt", "base")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    run("pull")
    head_before = (worker / ".modelops-bundle" / "refs" / "remotes" / "origin" / "latest").read_text()
    monkeypatch.chdir(laptop)
    write("f.txt", "theirs")
    write("g.txt", "new")
    run("add", ".")
    run("push")
    monkeypatch.chdir(worker)
    write("f.txt", "mine")
    write("g.txt", "untracked in the way")
    r = run("pull")
    assert r.code == 12
    assert "f.txt" in r.err and "g.txt" in r.err
    assert Path("f.txt").read_text() == "mine" and Path("g.txt").read_text() == "untracked in the way"
    assert (worker / ".modelops-bundle" / "refs" / "remotes" / "origin" / "latest").read_text() == head_before
    r = run("pull", "--overwrite")
    assert r.code == 0
    assert Path("f.txt").read_text() == "theirs" and Path("g.txt").read_text() == "new"


def test_pull_remote_deletion_needs_overwrite(laptop, run, monkeypatch, tmp_path, store):
    write("gone.txt", "x")
    write("keep.txt", "y")
    run("add", ".")
    run("push")
    clone(run, monkeypatch, tmp_path, store)
    run("pull")
    monkeypatch.chdir(laptop)
    run("rm", "gone.txt")
    run("push")
    monkeypatch.chdir(tmp_path / "worker")
    r = run("pull")
    assert r.code == 12 and "gone.txt" in r.err and Path("gone.txt").exists()
    assert run("pull", "--overwrite").code == 0
    assert not Path("gone.txt").exists()


def test_pull_dry_run_writes_nothing(laptop, run, monkeypatch, tmp_path, store):
    write("a.txt", "1")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    r = run("pull", "--dry-run")
    assert r.code == 0 and "write a.txt" in r.out
    assert not (worker / "a.txt").exists()


def test_restore_deleted(laptop, run, monkeypatch, tmp_path, store):
    write("a.txt", "1")
    run("add", ".")
    run("push")
    os.remove("a.txt")
    assert run("pull").code == 0
    assert not Path("a.txt").exists()  # local deletion is local work: kept
    assert run("pull", "--restore-deleted").code == 0
    assert Path("a.txt").read_text() == "1"


def test_tampered_blob_is_refused(laptop, run, monkeypatch, tmp_path, store):
    write("a.txt", "precious")
    run("add", ".")
    run("push")
    digest = hashlib.sha256(b"precious").hexdigest()
    blob = store / "blobs" / "sha256" / digest
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered")
    worker = clone(run, monkeypatch, tmp_path, store)
    r = run("pull")
    assert r.code == 11
    assert not (worker / "a.txt").exists()
    assert not [p for p in worker.rglob("*") if p.is_file() and ".modelops-bundle" not in p.parts]


def test_plumbing_chain_publishes_and_fetches(laptop, run, monkeypatch, tmp_path, store):
    write("m.py", "x = 1\n")
    run("add", ".")
    tree = run("write-tree").out.strip()
    manifest = run("write-manifest", tree).out.strip()
    assert run("send-bundle", f"oci:{store}", manifest, "--tag", "p1").out.strip() == manifest
    worker = clone(run, monkeypatch, tmp_path, store)
    got = run("fetch-bundle", f"oci:{store}", "p1").out.strip()
    assert got == manifest
    assert run("read-tree", got).code == 0
    assert run("checkout-index", "-a").code == 0
    assert (worker / "m.py").read_text() == "x = 1\n"
    layers = run("ls-layers", manifest).out.splitlines()
    assert layers[0].split()[2] == "application/vnd.modelops.bundle.config.v1+json"
    assert layers[1].endswith(" m.py")


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_skopeo_reads_the_layout(laptop, run, tmp_path, store):
    write("a.txt", "hello")
    run("add", ".")
    digest = run("push", "--tag", "v1").out.strip()
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{store}:v1"], capture_output=True, check=True).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    subprocess.run(["skopeo", "copy", "-q", f"oci:{store}:v1", f"oci:{tmp_path / 'copy'}:v1"], check=True, capture_output=True)


def test_unsafe_paths_in_bundle_are_refused(laptop, run, monkeypatch, tmp_path, store):
    """A hostile config naming ../ is refused with exit 2 before anything is written."""
    from mops import digest as dg
    from mops.bundle import EMPTY_BYTES, canonical_json
    from mops.ocilayout import OCILayoutTarget

    t = OCILayoutTarget(store)
    payload = b"evil"
    pd = dg.of_bytes(payload)
    t.push_blob(pd, len(payload), lambda: __import__("io").BytesIO(payload))
    cfg = canonical_json({"schemaVersion": 1, "files": [{"path": "../escape.txt", "digest": pd, "size": 4, "mode": "0644", "storage": "registry"}]})
    cd = dg.of_bytes(cfg)
    t.push_blob(cd, len(cfg), lambda: __import__("io").BytesIO(cfg))
    man = canonical_json({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "artifactType": "application/vnd.modelops.bundle.v1",
                          "config": {"mediaType": "application/vnd.modelops.bundle.config.v1+json", "digest": cd, "size": len(cfg)},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": pd, "size": 4,
                                      "annotations": {"org.opencontainers.image.title": "../escape.txt"}}]})
    t.put_manifest(man, dg.of_bytes(man), "evil")
    assert EMPTY_BYTES == b"{}"
    worker = clone(run, monkeypatch, tmp_path, store)
    r = run("pull", "evil")
    assert r.code == 2 and "unsafe path" in r.err
    assert not (tmp_path / "escape.txt").exists()
    assert worker.exists()


def test_push_tag_can_ride_on_the_remote(laptop, run, tmp_path):
    write("a", "1")
    run("add", "a")
    out = tmp_path / "out"
    r = run("push", f"oci:{out}:v7")
    assert r.code == 0, r.err
    assert (out / "oci-layout").exists() and not (tmp_path / "out:v7").exists()
    assert run("ls-remote", f"oci:{out}").out.split("\t")[1].strip() == "v7"
    assert run("push", f"oci:{out}:v7", "--tag", "v8").code == 2


def test_fetch_then_pull_still_applies_remote_changes(laptop, run, monkeypatch, tmp_path, store):
    write("f.txt", "base")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    run("pull")
    monkeypatch.chdir(laptop)
    write("f.txt", "theirs")
    run("add", ".")
    run("push")
    monkeypatch.chdir(worker)
    assert run("fetch").code == 0
    assert Path("f.txt").read_text() == "base"  # fetch leaves the worktree alone
    write("g.txt", "mine")
    run("add", "g.txt")
    assert run("push").code == 12  # fetched but not pulled: pushing would undo their change
    assert run("pull").code == 0
    assert Path("f.txt").read_text() == "theirs"
    assert run("status", "--porcelain").out == "A  g.txt\n"


def test_partial_pull_leaves_the_rest_for_later(laptop, run, monkeypatch, tmp_path, store):
    write("models/m.py", "1")
    write("data/d.csv", "1")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    run("pull")
    monkeypatch.chdir(laptop)
    write("models/m.py", "2")
    write("data/d.csv", "2")
    run("add", ".")
    run("push")
    monkeypatch.chdir(worker)
    assert run("pull", "origin", "latest", "models").code == 0
    assert Path("models/m.py").read_text() == "2" and Path("data/d.csv").read_text() == "1"
    assert run("pull").code == 0
    assert Path("data/d.csv").read_text() == "2"
    assert run("status", "--porcelain").out == ""


def test_remote_mode_change_is_applied(laptop, run, monkeypatch, tmp_path, store):
    write("run.sh", "echo hi\n")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    run("pull")
    monkeypatch.chdir(laptop)
    os.chmod("run.sh", 0o755)
    run("add", "run.sh")
    run("push")
    monkeypatch.chdir(worker)
    assert run("pull").code == 0
    assert os.stat("run.sh").st_mode & 0o111
    assert run("status", "--porcelain").out == ""


def test_file_deleted_on_both_sides(laptop, run, monkeypatch, tmp_path, store):
    write("gone.txt", "x")
    write("keep.txt", "y")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    run("pull")
    monkeypatch.chdir(laptop)
    run("rm", "gone.txt")
    run("push")
    monkeypatch.chdir(worker)
    run("rm", "gone.txt")
    r = run("pull")
    assert r.code == 0, r.err
    assert run("status", "--porcelain").out == ""


def test_pull_name_colon_tag_and_by_digest(laptop, run, monkeypatch, tmp_path, store):
    write("a.txt", "1")
    run("add", ".")
    d = run("push", "--tag", "v2").out.strip()
    worker = clone(run, monkeypatch, tmp_path, store)
    assert run("pull", "origin:v2").code == 0
    assert (worker / "a.txt").read_text() == "1"
    other = clone(run, monkeypatch, tmp_path, store, "other")
    r = run("pull", d)
    assert r.code == 0, r.err
    assert (other / "a.txt").read_text() == "1"
    assert run("status", "--porcelain").out == ""  # the digest pull is the base


def test_relative_oci_remote_from_a_subdirectory(tmp_path, run, monkeypatch):
    root = tmp_path / "proj"
    monkeypatch.chdir(tmp_path)
    run("init", str(root), "--registry", "oci:./proj/bundles")  # typed relative to the cwd
    monkeypatch.chdir(root)
    assert "remotes:\n  origin: oci:bundles\n" in (root / ".modelops-bundle" / "config.yaml").read_text()
    assert "/bundles/" in (root / ".modelopsignore").read_text()  # the layout is never staged
    write("sub/a.txt", "1")
    run("add", ".")
    d = run("push", "--tag", "v1").out.strip()
    assert (root / "bundles" / "oci-layout").exists()
    monkeypatch.chdir(root / "sub")
    assert run("resolve", "v1").out.strip().endswith(d)
    assert "bundles" not in run("ls-files").out


def test_status_after_push_to_a_location(laptop, run, tmp_path):
    write("a", "1")
    run("add", "a")
    assert run("push", f"oci:{tmp_path / 'adhoc'}").code == 0
    out = run("status").out
    assert "up to date" in out and "unavailable" not in out


def test_default_role_pull_then_push_is_not_stuck(laptop, run, monkeypatch, tmp_path, store):
    write(".modelops-bundle/config.yaml", f"remotes:\n  origin: oci:{store}\nroles:\n  default: ['models/']\n  data: ['data/']\n")
    write("models/m.py", "1")
    write("data/d.csv", "1")
    run("add", ".")
    assert run("push").code == 0
    worker = clone(run, monkeypatch, tmp_path, store)
    assert run("pull").code == 0
    assert (worker / "models/m.py").exists() and not (worker / "data/d.csv").exists()
    assert "up to date" in run("status").out
    assert run("pull", "--role", "data").code == 0
    assert (worker / "data/d.csv").read_text() == "1"
    write("models/m.py", "2")
    run("add", "models/m.py")
    r = run("push")
    assert r.code == 0, r.err
    assert run("resolve", "HEAD").out.strip().endswith(r.out.strip())


def test_fetch_does_not_license_replacing_another_tag(laptop, run, monkeypatch, tmp_path, store):
    write("t.txt", "1")
    run("add", ".")
    run("push", "--tag", "other")
    run("push", "--tag", "mine")
    clone(run, monkeypatch, tmp_path, store, "colleague")
    run("pull", "origin", "other")
    write("t.txt", "theirs")
    run("add", ".")
    run("push", "--tag", "other")
    monkeypatch.chdir(laptop)
    run("fetch", "origin", "other")
    write("u.txt", "mine")
    run("add", ".")
    assert run("push", "--tag", "other").code == 12


def test_symlink_in_the_way_is_a_conflict(laptop, run, monkeypatch, tmp_path, store):
    write("keep.txt", "1")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    run("pull")
    monkeypatch.chdir(laptop)
    write("new.txt", "remote")
    run("add", ".")
    run("push")
    monkeypatch.chdir(worker)
    os.symlink(tmp_path / "elsewhere.txt", worker / "new.txt")
    r = run("pull")
    assert r.code == 12 and "new.txt" in r.err
    assert os.path.islink(worker / "new.txt")


def test_typed_relative_oci_paths_follow_the_cwd(tmp_path, run, monkeypatch):
    root = tmp_path / "proj"
    run("init", str(root))
    write(root / "sub" / "a.txt", "1")
    monkeypatch.chdir(root / "sub")
    run("add", "a.txt")
    assert run("push", "oci:./lay:v1").code == 0
    assert (root / "sub" / "lay" / "oci-layout").exists()
    assert run("show", "oci:./lay:v1").code == 0
    assert run("remote", "add", "here", "oci:./lay").code == 0
    monkeypatch.chdir(root)
    assert run("ls-remote", "here").out.strip().endswith("v1")


def test_push_after_a_limited_pull_is_refused(laptop, run, monkeypatch, tmp_path, store):
    write("a.txt", "1")
    write("c.txt", "1")
    run("add", ".")
    run("push")
    worker = clone(run, monkeypatch, tmp_path, store)
    run("pull")
    monkeypatch.chdir(laptop)
    write("a.txt", "2")
    write("c.txt", "2")
    run("add", ".")
    run("push")
    monkeypatch.chdir(worker)
    assert run("pull", "origin", "latest", "a.txt").code == 0
    assert "partly pulled" in run("status").out
    assert run("push").code == 12  # would revert c.txt
    assert run("pull", "origin", "latest", "--", ".").code == 0  # `.` at the root means everything
    assert Path("c.txt").read_text() == "2"
    assert run("push").code == 0


def test_resolve_names_the_location_of_a_remote_given_by_location(project, run, tmp_path):
    """A push to a location (no configured remote) files its ref under a derived name; resolving
    that name gives the location back, from HEAD or, once HEAD moved on, from the reflog."""
    write("a.txt", "a")
    run("add", "a.txt")
    one, two = tmp_path / "one", tmp_path / "two"
    assert run("push", f"oci:{one}:v1").code == 0
    assert run("push", f"oci:{two}:v1").code == 0
    refs = dict(line.split()[::-1] for line in run("show-ref").out.splitlines())
    assert len(refs) == 2
    digest = next(iter(refs.values()))
    # one ref is HEAD's (its remote is in HEAD), the other only in the reflog
    got = {run("resolve", r.removeprefix("refs/remotes/")).out for r in refs}
    assert got == {f"oci:{one}@{digest}\n", f"oci:{two}@{digest}\n"}


def test_insecure_sync_is_remembered_for_the_remote_line(project, run, monkeypatch, tmp_path):
    """After a sync with --insecure (plain HTTP to a registry not on this machine), status asks
    that registry the same way instead of reporting it unavailable.  No such registry can run
    here (the tests' servers are on 127.0.0.1, always allowed plain HTTP), so the registry is
    replaced at the point where status opens it."""
    import mops.remotes
    from mops.repo import Repository

    write("a.txt", "a")
    run("add", "a.txt")
    assert run("push", f"oci:{tmp_path / 'l'}:v1").code == 0
    assert "\ninsecure:" not in (project / ".modelops-bundle" / "HEAD").read_text()  # oci: has no transport
    refs = Repository(project).refs
    digest = refs.bundle_digest()
    refs.set_head("refs/remotes/lab/v1", digest, "registry.lab.example:5000/proj", insecure=True)
    seen = []

    class Target:
        timeout = 60.0

        def resolve(self, tag):
            return digest, b""

    def open_target(remote, repo=None, insecure=None):
        seen.append((remote.url, insecure))
        return Target()

    monkeypatch.setattr(mops.remotes, "open_target", open_target)
    r = run("status")
    assert seen == [("registry.lab.example:5000/proj", True)]
    assert "Remote lab/v1 is up to date" in r.out
