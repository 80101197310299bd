"""Plumbing: bare, scriptable output; the tree digest is reproducible; index ↔ tree ↔ worktree."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sha256sum(path) -> str:
    out = subprocess.run(["sha256sum", "--", str(path)], capture_output=True, check=True).stdout.decode()
    return "sha256:" + out.split()[0]


@PROPS
@given(data=st.binary(max_size=5000))
def test_hash_object_equals_sha256sum(tmp_path, monkeypatch, run, data):
    monkeypatch.chdir(tmp_path)  # no project needed without -w
    p = write(tmp_path / "f.bin", data)
    r = run("hash-object", "f.bin")
    assert r.code == 0, r.err
    assert r.out == sha256sum(p) + "\n"
    assert run("hash-object", "--stdin", stdin=data).out == r.out


def test_hash_object_big_file_and_odd_names(project, run):
    big = write("big data.bin", os.urandom(5 * 1024 * 1024 + 3))
    odd = write("ü -n.txt", "x")
    r = run("hash-object", str(big), str(odd))
    assert r.out.splitlines() == [sha256sum(big), sha256sum(odd)]


def test_hash_object_errors(project, run):
    assert run("hash-object", "missing").code == 1
    os.mkdir("d")
    assert run("hash-object", "d").code == 2
    assert run("hash-object").code == 2


# -- write-tree is reproducible ------------------------------------------------------------
files_strategy = st.dictionaries(
    st.sampled_from(["a.txt", "b/c.bin", "b/d/e.py", "z", "ü/ñ.csv", "run.sh"]),
    st.tuples(st.binary(max_size=200), st.booleans()),
    min_size=1,
)


def make_project(root: Path, run, files: dict, order: list[str], mtime_ns: int) -> str:
    assert run("init", str(root)).code == 0
    os.chdir(root)
    for p, (data, exe) in files.items():
        write(p, data, mode=0o755 if exe else 0o644)
        os.utime(p, ns=(mtime_ns, mtime_ns))
    for p in order:
        assert run("add", p).code == 0
    r = run("write-tree")
    assert r.code == 0, r.err
    return r.out.strip()


@PROPS
@given(files=files_strategy, seed=st.integers(0, 1000))
def test_write_tree_is_reproducible(tmp_path_factory, run, files, seed):
    cwd = os.getcwd()
    try:
        order = sorted(files)
        shuffled = order[:]
        random.Random(seed).shuffle(shuffled)
        t1 = make_project(tmp_path_factory.mktemp("one") / "p", run, files, order, 1_000_000_000)
        t2 = make_project(tmp_path_factory.mktemp("two") / "elsewhere", run, files, shuffled, 1_700_000_000_123_456_789)
        assert t1 == t2
        # and it is the canonical JSON of the documented shape, nothing machine-specific in it
        raw = run("cat-file", "-p", t2).out_bytes
        doc = json.loads(raw)
        assert raw == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert [f["path"] for f in doc["files"]] == sorted(files)
        for f in doc["files"]:
            data, exe = files[f["path"]]
            assert f["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert f["size"] == len(data) and f["mode"] == ("0755" if exe else "0644")
        assert b"elsewhere" not in raw and b"1700000000" not in raw
    finally:
        os.chdir(cwd)


def test_write_tree_changes_with_content_and_mode(project, run):
    write("a", "1")
    run("add", "a")
    t1 = run("write-tree").out
    os.chmod("a", 0o755)
    run("add", "a")
    t2 = run("write-tree").out
    write("a", "2", mode=0o755)
    run("add", "a")
    t3 = run("write-tree").out
    assert len({t1, t2, t3}) == 3


# -- ls-tree, read-tree, checkout-index ----------------------------------------------------
def test_ls_tree_format(project, run):
    write("b/x.txt", "hello")
    write("a.sh", "#!/bin/sh\n", mode=0o755)
    run("add", ".")
    tree = run("write-tree").out.strip()
    lines = run("ls-tree", tree).out.splitlines()
    h = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731
    script = h(b"#!/bin/sh\n")
    assert lines == [f"0755 registry {script} 10\ta.sh", f"0644 registry {h(b'hello')} 5\tb/x.txt"]
    assert run("ls-tree", "--name-only", "-z", tree).out == "a.sh\0b/x.txt\0"
    assert run("ls-tree", "sha256:" + "1" * 64).code == 1


def test_read_tree_then_checkout_index_restores_files(project, run):
    write("keep.txt", "keep")
    write("d/gone.bin", os.urandom(1000))
    write("x.sh", "echo\n", mode=0o755)
    run("add", ".")
    tree = run("write-tree").out.strip()
    before = {p: Path(p).read_bytes() for p in ("keep.txt", "d/gone.bin", "x.sh")}
    run("rm", "d/gone.bin", "x.sh")
    write("new.txt", "new")
    run("add", "new.txt")
    assert not os.path.exists("d")
    assert run("read-tree", tree).code == 0
    assert run("ls-files").out == "d/gone.bin\nkeep.txt\nx.sh\n"
    assert run("status", "--porcelain").out == "AD d/gone.bin\nA  keep.txt\nAD x.sh\n?? new.txt\n"
    keep_mtime = os.stat("keep.txt").st_mtime_ns
    r = run("checkout-index", "-a")
    assert r.code == 0 and r.out == "d/gone.bin\nx.sh\n"
    assert {p: Path(p).read_bytes() for p in before} == before
    assert os.stat("x.sh").st_mode & 0o111
    assert os.stat("keep.txt").st_mtime_ns == keep_mtime  # already right: not rewritten
    assert run("status", "--porcelain").out == "A  d/gone.bin\nA  keep.txt\nA  x.sh\n?? new.txt\n"


def test_checkout_index_refuses_to_overwrite_changes_without_f(project, run):
    write("a", "staged")
    write("b", "staged")
    run("add", ".")
    write("a", "local edit")
    os.remove("b")
    r = run("checkout-index", "-a")
    assert r.code == 12 and "a" in r.err and "-f" in r.err
    assert Path("a").read_text() == "local edit" and not os.path.exists("b")  # nothing written
    assert run("checkout-index", "-f", "a", "b").code == 0
    assert Path("a").read_text() == "staged" and Path("b").read_text() == "staged"
    assert run("checkout-index", "nope").code == 1
    assert run("checkout-index").code == 2


def test_checkout_index_refuses_corrupt_object(project, run):
    write("a", "content that will rot")
    run("add", "a")
    d = run("ls-files", "-s").out.split()[1]
    obj = project / ".modelops-bundle" / "objects" / "sha256" / d[7:9] / d[7:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"x" * len(b"content that will rot"))
    os.remove("a")
    r = run("checkout-index", "a")
    assert r.code == 11 and d in r.err
    assert not os.path.exists("a")


# -- refs ------------------------------------------------------------------------------------
def test_update_ref_rev_parse_show_ref(project, run):
    write("a", "1")
    run("add", "a")
    tree = run("write-tree").out.strip()
    assert run("show-ref").code == 1  # none yet
    assert run("rev-parse", "HEAD").code == 1
    assert run("update-ref", "v1", tree).code == 0  # bare name: a tag
    assert run("update-ref", "refs/remotes/origin/latest", tree[7:]).code == 0  # bare hex accepted
    assert run("show-ref").out == f"{tree} refs/remotes/origin/latest\n{tree} refs/tags/v1\n"
    assert run("rev-parse", "v1", "origin/latest", "refs/tags/v1", tree[7:]).out == f"{tree}\n" * 4
    assert (project / ".modelops-bundle" / "refs" / "tags" / "v1").read_text() == tree + "\n"
    r = run("rev-parse", "nope")
    assert r.code == 1 and "nope" in r.err
    assert run("update-ref", "-d", "v1").code == 0
    assert run("update-ref", "-d", "v1").code == 1
    assert run("rev-parse", "v1").code == 1


@pytest.mark.parametrize("name", ["refs/tags/a/b", "refs/../x", "bad name", "refs/heads", "refs/heads/main", "refs/remotes/origin", "-x"])
def test_update_ref_refuses_bad_names(project, run, name):
    r = run("update-ref", name, "sha256:" + "a" * 64)
    assert r.code == 2
    assert not any((project / ".modelops-bundle").rglob("x"))


def test_update_ref_refuses_bad_digest(project, run):
    r = run("update-ref", "v1", "sha256:XYZ")
    assert r.code == 2 and "sha256:XYZ" in r.err


# -- ls-files, update-index ----------------------------------------------------------------
def test_ls_files_forms(project, run):
    write("a b.txt", "1")
    write("sub/c", "2", mode=0o755)
    write("u.txt", "3")
    run("add", "a b.txt", "sub")
    h = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731
    assert run("ls-files", "-s").out == f"0644 {h(b'1')} auto\ta b.txt\n0755 {h(b'2')} auto\tsub/c\n"
    assert run("ls-files", "-z").out == "a b.txt\0sub/c\0"
    assert run("ls-files", "-o").out == "u.txt\n"
    write("sub/c", "changed")
    assert run("ls-files", "-m").out == "sub/c\n"
    assert run("ls-files", "-m", "-o").out == "sub/c\nu.txt\n"


def test_update_index(project, run):
    write("a", "1")
    r = run("update-index", "a")
    assert r.code == 2 and "--add" in r.err
    assert run("update-index", "--add", "a").code == 0
    assert run("ls-files").out == "a\n"
    write("b", "2")
    write("c d", "3")
    assert run("update-index", "--add", "--stdin", "-z", stdin=b"b\0c d\0").code == 0
    assert run("ls-files").out == "a\nb\nc d\n"
    os.remove("a")
    assert run("update-index", "a").code == 1
    assert run("update-index", "--remove", "a").code == 0
    assert run("ls-files").out == "b\nc d\n"
    write("b", "changed")
    r = run("update-index", "--refresh")
    assert r.code == 1 and r.out == "b: needs update\n"  # as git: entries need updating


def test_fsck_reports_missing_objects(project, run):
    write("a", "some content here")
    run("add", "a")
    assert run("fsck").code == 0
    d = run("ls-files", "-s").out.split()[1]
    obj = project / ".modelops-bundle" / "objects" / "sha256" / d[7:9] / d[7:]
    os.chmod(obj, 0o644)
    obj.unlink()
    r = run("fsck")
    assert r.code == 11 and f"missing object {d} (staged as a)" in r.out
