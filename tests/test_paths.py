"""Path safety: nothing a bundle, an index or a user names can make mops write outside its root."""

from __future__ import annotations

import io
import os
import posixpath
import tempfile
from pathlib import Path

import pytest
from conftest import write
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mops import digest as dg
from mops.bundle import check_bundle_path
from mops.checkout import safe_target, write_verified
from mops.errors import IntegrityError, UnsafePath

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# components biased towards the dangerous ones
component = st.one_of(
    st.sampled_from(["", ".", "..", "...", ".modelops-bundle", "a", "b", "link", "c:", "C:", "x\\..", "\\", "~", " "]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
)
raw_paths = st.one_of(
    st.lists(component, min_size=1, max_size=5).map("/".join),
    st.lists(component, min_size=1, max_size=3).map(lambda c: "/" + "/".join(c)),
    st.text(max_size=20),
)


def inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


@settings(max_examples=500, deadline=None)
@given(p=raw_paths)
def test_check_bundle_path_accepts_only_paths_strictly_inside(p):
    root = "/dest"
    try:
        ok = check_bundle_path(p)
    except UnsafePath as e:
        assert repr(p) in str(e) or p == ""  # the message names the path
        return
    assert ok == p
    joined = posixpath.normpath(posixpath.join(root, p))
    assert joined.startswith(root + "/") and joined != root
    assert posixpath.normpath(p) == p  # no '.', '..' or empty components to normalise away
    assert p.split("/")[0] != ".modelops-bundle"
    assert "\\" not in p and not any(ord(c) < 32 for c in p)


@pytest.mark.parametrize(
    "bad",
    ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", ".", "..", "C:/x", "c:x", "a\\b", ".modelops-bundle/index",
     ".modelops-bundle", "a\nb", "a\x00b", "a\x7fb"],
)
def test_check_bundle_path_refuses(bad):
    with pytest.raises(UnsafePath):
        check_bundle_path(bad)


@pytest.mark.parametrize("good", ["a", "a/b/c.txt", "ü/ñ.bin", ".hidden", "a/.modelops-bundle/x", "...", "a b/c d", "x.modelops-bundle"])
def test_check_bundle_path_accepts(good):
    assert check_bundle_path(good) == good


def make_arena(tmp_path):
    """A destination root with hostile symlinks inside it, and an outside directory to protect."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "a" / "link").symlink_to(outside, target_is_directory=True)
    (root / "a" / "up").symlink_to("..", target_is_directory=True)
    (root / "b").write_text("a file where a directory may be wanted")
    return root, outside


@pytest.fixture
def arena(tmp_path):
    return make_arena(tmp_path)


@PROPS
@given(p=raw_paths)
def test_safe_target_never_leads_outside_root(p):
    with tempfile.TemporaryDirectory() as d:
        check_safe_target(Path(d), p)


def check_safe_target(tmp: Path, p: str) -> None:
    root, outside = make_arena(tmp)
    before = sorted(os.listdir(outside))
    try:
        target = safe_target(root, p)
    except UnsafePath:
        assert sorted(os.listdir(outside)) == before  # no directory was created outside
        return
    real_root = os.path.realpath(root)
    assert inside(real_root, os.path.dirname(target))
    assert not os.path.islink(os.path.dirname(target))
    # and writing there really lands inside (a symlink at the target itself is replaced, not followed)
    write_verified(target, io.BytesIO(b"x"), dg.of_bytes(b"x"), 1)
    assert os.path.realpath(target).startswith(real_root + os.sep)
    assert sorted(os.listdir(outside)) == before


@pytest.mark.parametrize("rel", ["link/x", "link/deep/x", "a/link/x", "a/up/b/x", "b/x"])
def test_safe_target_refuses_symlinked_or_file_parents(arena, rel):
    root, outside = arena
    with pytest.raises(UnsafePath) as ei:
        safe_target(root, rel)
    assert rel in str(ei.value)
    assert os.listdir(outside) == []


def test_safe_target_creates_missing_directories_inside(arena):
    root, _ = arena
    t = safe_target(root, "new/deeper/file.txt")
    assert t == root / "new" / "deeper" / "file.txt"
    assert (root / "new" / "deeper").is_dir() and not t.exists()


def test_safe_target_refuses_a_directory_in_the_way(arena):
    root, _ = arena
    with pytest.raises(UnsafePath):
        safe_target(root, "a")


def test_write_verified_refuses_wrong_bytes_and_leaves_nothing(tmp_path):
    data = b"expected content"
    target = tmp_path / "f.txt"
    with pytest.raises(IntegrityError):
        write_verified(target, io.BytesIO(b"something else!!"), dg.of_bytes(data), len(data))
    assert os.listdir(tmp_path) == []
    st_ = write_verified(target, io.BytesIO(data), dg.of_bytes(data), len(data), mode="0755")
    assert target.read_bytes() == data and st_.st_mode & 0o111
    assert os.listdir(tmp_path) == ["f.txt"]


def test_write_verified_replaces_a_symlink_instead_of_following_it(tmp_path):
    outside = tmp_path / "victim"
    outside.write_text("keep me")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").symlink_to(outside)
    data = b"new"
    write_verified(tmp_path / "d" / "f", io.BytesIO(data), dg.of_bytes(data), len(data))
    assert outside.read_text() == "keep me"
    assert not os.path.islink(tmp_path / "d" / "f")


# -- user paths ----------------------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=raw_paths)
def test_repo_relpath_is_inside_or_refused(project, p):
    from mops.repo import Repository

    assume("\x00" not in p)
    repo = Repository.find()
    try:
        rel = repo.relpath(p, cwd=project / "sub")
    except UnsafePath:
        return
    full = posixpath.normpath(posixpath.join(str(repo.root), rel))
    assert full == str(repo.root) or full.startswith(str(repo.root) + "/")
    assert not (rel == ".modelops-bundle" or rel.startswith(".modelops-bundle/"))


def test_checkout_index_refuses_a_symlinked_parent(project, run, tmp_path):
    write("d/f.txt", "content")
    assert run("add", "d/f.txt").code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    os.remove("d/f.txt")
    os.rmdir("d")
    os.symlink(outside, "d")
    r = run("checkout-index", "-a", "-f")
    assert r.code == 2 and "d/f.txt" in r.err and "symbolic link" in r.err
    assert os.listdir(outside) == []


def test_checkout_index_refuses_an_unsafe_path_in_the_index(project, run, tmp_path):
    from mops.index import Index, IndexLock

    write("f.txt", "content")
    assert run("add", "f.txt").code == 0
    idx = project / ".modelops-bundle" / "index"
    index = Index.load(idx)
    index.entries["../escaped.txt"] = index.entries.pop("f.txt")
    with IndexLock(idx) as lock:
        lock.commit(index)
    r = run("checkout-index", "-a", "-f")
    assert r.code == 2 and "../escaped.txt" in r.err
    assert not (tmp_path / "escaped.txt").exists()


def test_add_refuses_symlinks_and_mops_own_directory(project, run, tmp_path):
    write(tmp_path / "secret", "s")
    os.symlink(tmp_path / "secret", "ln")
    r = run("add", "ln")
    assert r.code == 2 and "symbolic link" in r.err
    r = run("add", ".modelops-bundle/config.yaml")
    assert r.code == 2 and ".modelops-bundle" in r.err
    assert run("ls-files").out == ""


def test_add_refuses_a_file_name_that_is_not_utf8(project, run):
    write("ok.txt", "1")
    with open(b"bad\xff.txt", "wb") as f:
        f.write(b"x")
    for args in (["add", "."], ["add", "-A"]):
        r = run(*args)
        assert r.code == 2, r.err
        assert "bad\\xff.txt" in r.err and "UTF-8" in r.err and "Traceback" not in r.err
    assert run("ls-files").out == ""  # nothing staged, not even ok.txt
    write(".modelopsignore", "bad*\n")
    assert run("add", ".").code == 0  # the hint works
    assert run("ls-files").out == ".modelopsignore\nok.txt\n"
