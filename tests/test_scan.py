"""status's stat pass through GNU find: the same answers as the Python walk, every time.

The find pass keeps two caches (the records expected for the index, the outcome of the last
pass); these tests change the tree between runs so that every cache state is exercised, and
compare each answer with the Python walk's (``MOPS_SCANNER=python``).
"""

from __future__ import annotations

import os
import shutil
import stat
import time

import pytest
from conftest import IN_CI, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# find is part of every Debian system; in CI its absence fails these tests instead of skipping them
pytestmark = pytest.mark.skipif(shutil.which("find") is None and not IN_CI, reason="no find on PATH")

DOT = ".modelops-bundle"


def both(run, monkeypatch, *args: str) -> str:
    """Run a command with the find pass and with the Python walk; they must agree."""
    monkeypatch.delenv("MOPS_SCANNER", raising=False)
    fast = run(*args)
    monkeypatch.setenv("MOPS_SCANNER", "python")
    slow = run(*args)
    monkeypatch.delenv("MOPS_SCANNER", raising=False)
    assert fast.code == slow.code == 0, (fast.err, slow.err)
    assert fast.out == slow.out
    return fast.out


def bump(path: str, data: str) -> None:
    """Rewrite a file with the same size, and make sure its mtime moves (coarse clocks)."""
    before = os.stat(path).st_mtime_ns
    write(path, data)
    if os.stat(path).st_mtime_ns == before:
        os.utime(path, ns=(before + 10**9, before + 10**9))


def test_find_pass_is_used_and_cached(project, run):
    write("a.txt", "a")
    run("add", "a.txt")
    assert run("status", "--porcelain").out == "A  a.txt\n"
    assert (project / DOT / "scan-expected").is_file()
    assert (project / DOT / "scan-last").is_file()


def test_python_walk_writes_no_scan_cache(project, run, monkeypatch):
    monkeypatch.setenv("MOPS_SCANNER", "python")
    write("a.txt", "a")
    run("add", "a.txt")
    assert run("status", "--porcelain").out == "A  a.txt\n"
    assert not (project / DOT / "scan-last").exists()


def test_edit_after_a_cached_clean_status_is_seen(project, run, monkeypatch):
    for i in range(30):
        write(f"d{i % 3}/f{i}.txt", f"{i:04d}")
    run("add", ".")
    time.sleep(0.01)
    for _ in range(2):  # a miss that fills the caches, then a hit
        assert both(run, monkeypatch, "status", "--porcelain").count("\n") == 30
    bump("d1/f4.txt", "XXXX")  # same size, new content
    out = both(run, monkeypatch, "status", "--porcelain")
    assert "AM d1/f4.txt\n" in out
    out = both(run, monkeypatch, "status", "--porcelain")  # and again, from the cache
    assert "AM d1/f4.txt\n" in out


def test_racy_entry_is_looked_at_on_every_cached_run(project, run, monkeypatch):
    write("f.txt", "aaaa")
    run("add", "f.txt")
    idx = project / DOT / "index"
    mtime = os.stat("f.txt").st_mtime_ns
    os.utime(idx, ns=(mtime, mtime))  # the index is not strictly newer: the entry is racy
    for _ in range(2):
        assert both(run, monkeypatch, "status", "--porcelain") == "A  f.txt\n"


def test_deleted_chmodded_and_untracked_files(project, run, monkeypatch):
    write("keep.txt", "k")
    write("gone.txt", "g")
    write("run.sh", "#!/bin/sh\n", mode=0o644)
    write("sub/deep/x.bin", "x")
    run("add", ".")
    both(run, monkeypatch, "status", "--porcelain")
    os.unlink("gone.txt")
    os.chmod("run.sh", 0o755)
    write("new/a.txt", "a")
    write("sub/deep/y.bin", "y")
    out = both(run, monkeypatch, "status", "--porcelain")
    assert out == "AD gone.txt\nA  keep.txt\nAM run.sh\nA  sub/deep/x.bin\n?? new/\n?? sub/deep/y.bin\n"
    assert "?? new/a.txt\n" in both(run, monkeypatch, "status", "--porcelain", "-u")
    # diff and ls-files go through the same pass
    assert both(run, monkeypatch, "diff") == "D\tgone.txt\nM\trun.sh\n"
    assert both(run, monkeypatch, "ls-files", "-m", "-o") == "gone.txt\nrun.sh\nnew/a.txt\nsub/deep/y.bin\n"


def test_ignore_rules_apply_and_their_change_is_seen(project, run, monkeypatch):
    write("data/raw/a.csv", "1")
    write("data/keep.csv", "2")
    write("node_modules/pkg/index.js", "3")  # pruned by name inside find
    write("x.pyc", "4")
    assert both(run, monkeypatch, "status", "--porcelain", "-u") == "?? data/keep.csv\n?? data/raw/a.csv\n"
    write(".modelopsignore", "data/raw/\n")
    assert both(run, monkeypatch, "status", "--porcelain", "-u") == "?? .modelopsignore\n?? data/keep.csv\n"
    write(".modelopsignore", "data/raw/\n!data/raw/a.csv\n")  # a negation: nothing pruned by name
    out = both(run, monkeypatch, "status", "--porcelain", "-u")
    assert "?? data/keep.csv\n" in out and "node_modules" not in out and "x.pyc" not in out


def test_tracked_file_inside_a_pruned_directory_is_still_checked(project, run, monkeypatch):
    write("node_modules/vendored.js", "v1")
    assert run("add", "-f", "node_modules/vendored.js").code == 0
    assert both(run, monkeypatch, "status", "--porcelain") == "A  node_modules/vendored.js\n"
    bump("node_modules/vendored.js", "v2")
    assert both(run, monkeypatch, "status", "--porcelain") == "AM node_modules/vendored.js\n"


def test_symlink_replacing_a_tracked_file_is_a_deletion(project, run, monkeypatch):
    write("a.txt", "a")
    write("b.txt", "b")
    run("add", ".")
    both(run, monkeypatch, "status", "--porcelain")
    os.unlink("a.txt")
    os.symlink("b.txt", "a.txt")
    assert both(run, monkeypatch, "status", "--porcelain") == "AD a.txt\nA  b.txt\n"


@pytest.mark.parametrize("name", ["-rf", "[x]", "star*", "sp ace", "q?", "back\\slash", "é"])
def test_awkward_top_level_names_split_between_processes(project, run, monkeypatch, name):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for d in (name, "plain", "other"):
        for i in range(5):
            write(os.path.join(d, f"f{i}"), f"{d}{i}")
    write(f"top {name}", "t")
    run("add", ".")
    for _ in range(2):
        out = both(run, monkeypatch, "status", "--porcelain", "-z")
        assert out.count("\0") == 16
    bump(os.path.join(name, "f3"), "X" * len(f"{name}3"))
    out = both(run, monkeypatch, "status", "--porcelain", "-z")
    assert f"AM {name}/f3\0" in out


def test_non_utf8_file_name(project, run, monkeypatch):
    raw = os.path.join(os.fsencode(project), b"caf\xe9.txt")
    with open(raw, "wb") as f:
        f.write(b"x")
    a = both(run, monkeypatch, "status", "--porcelain", "-u", "-z")
    assert a.count("\0") == 1 and a.startswith("?? caf")


def test_untracked_name_with_a_newline(project, run, monkeypatch):
    """Records end with NUL, so a newline in a name (refused by add) is still listed whole."""
    write("new\nline/f", "x")
    write("ok.txt", "o")
    run("add", "ok.txt")
    assert both(run, monkeypatch, "status", "--porcelain", "-z", "-u") == "A  ok.txt\0?? new\nline/f\0"


@pytest.mark.parametrize("damage", ["scan-last", "scan-expected"])
def test_damaged_cache_is_rebuilt(project, run, monkeypatch, damage):
    write("a.txt", "a")
    run("add", "a.txt")
    both(run, monkeypatch, "status", "--porcelain")
    (project / DOT / damage).write_bytes(b"\xff\x00garbage")
    bump("a.txt", "b")
    assert both(run, monkeypatch, "status", "--porcelain") == "AM a.txt\n"


def test_without_find_status_falls_back_to_the_walk(project, run, monkeypatch, tmp_path):
    write("a.txt", "a")
    run("add", "a.txt")
    write("u.txt", "u")
    empty = tmp_path / "nofind"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    r = run("status", "--porcelain")
    assert (r.code, r.out) == (0, "A  a.txt\n?? u.txt\n")


def test_a_find_without_printf_falls_back_to_the_walk(project, run, monkeypatch, tmp_path):
    """A BSD find rejects -printf and exits non-zero: status must not trust its (empty) output."""
    write("a.txt", "a")
    run("add", "a.txt")
    fake = tmp_path / "bsd"
    fake.mkdir()
    (fake / "find").write_text("#!/bin/sh\necho 'find: -printf: unknown primary or operator' >&2\nexit 1\n")
    (fake / "find").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    r = run("status", "--porcelain")
    assert (r.code, r.out) == (0, "A  a.txt\n")


def test_status_from_a_subdirectory(project, run, monkeypatch):
    write("a/b/c.txt", "c")
    write("a/d.txt", "d")
    run("add", ".")
    monkeypatch.chdir("a/b")
    write("new.txt", "n")
    out = both(run, monkeypatch, "status")
    assert "new.txt" in out
    assert os.getcwd() == str(project / "a" / "b")  # the spawn's chdir was undone


names = st.text(alphabet="ab-_. [*", min_size=1, max_size=4).filter(
    lambda s: s not in (".", "..") and not s.startswith(".modelops"))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(tree=st.dictionaries(st.lists(names, min_size=1, max_size=3).map(tuple), st.binary(max_size=8), min_size=1,
                            max_size=12),
       tracked=st.sets(st.integers(0, 11)), edits=st.lists(st.tuples(st.integers(0, 11), st.sampled_from(
           ["rewrite", "delete", "chmod", "untracked"])), max_size=6))
def test_property_find_pass_agrees_with_the_walk(tmp_path_factory, run, tree, tracked, edits):
    mp = pytest.MonkeyPatch()
    try:
        root = tmp_path_factory.mktemp("p")
        assert run("init", str(root)).code == 0
        mp.chdir(root)
        files = []
        for parts, data in tree.items():
            path = os.path.join(*parts)
            try:
                write(path, data)
            except (IsADirectoryError, NotADirectoryError, FileExistsError):
                continue  # a name both a file and a directory in the generated tree
            files.append(path)
        if not files:
            return
        chosen = [f for i, f in enumerate(files) if i in tracked] or files[:1]
        assert run("add", "-f", "--", *chosen).code == 0
        mp.setattr(os, "cpu_count", lambda: 3)
        both(run, mp, "status", "--porcelain", "-z", "-u")
        for i, what in edits:
            f = files[i % len(files)]
            if what == "delete" and os.path.lexists(f):
                os.unlink(f)
            elif what == "rewrite" and os.path.exists(f):
                bump(f, "Z" * os.path.getsize(f))
            elif what == "chmod" and os.path.exists(f):
                os.chmod(f, 0o755)
            elif what == "untracked":
                try:
                    write(f + "_new", "n")
                except OSError:
                    pass
            both(run, mp, "status", "--porcelain", "-z", "-u")
            both(run, mp, "status", "--porcelain", "-z")
        both(run, mp, "ls-files", "-m", "-o", "-z")
        both(run, mp, "diff")
    finally:
        mp.undo()


@pytest.mark.parametrize("damage", [b"", b"\xff\x00garbage", None])
def test_base_cache_damaged_or_from_another_base_is_rebuilt(project, run, tmp_path, damage):
    """status's staged side keeps the base tree's map in base-cache; it must never mislead."""
    write("a.txt", "a")
    write("b.txt", "b")
    run("add", ".")
    assert run("push", f"oci:{tmp_path / 'layout'}:v1").code == 0
    assert run("status", "--porcelain").out == ""
    cache = project / DOT / "base-cache"
    assert cache.is_file()
    old = cache.read_bytes()
    write("b.txt", "B")
    write("c.txt", "c")
    run("add", ".")
    assert run("push", f"oci:{tmp_path / 'layout'}:v2").code == 0  # a new base
    if damage is None:
        cache.write_bytes(old)  # the first base's map: stale for the new base
    else:
        cache.write_bytes(damage)
    (project / DOT / "status-cache").unlink(missing_ok=True)
    os.unlink("a.txt")
    run("add", "-A")
    assert run("status", "--porcelain").out == "D  a.txt\n"


def test_anchored_wildcard_pattern_prunes_only_at_the_top(project, run, monkeypatch):
    """find's -path lets * match '/', so '/*.egg-info/' must not prune src/x.egg-info."""
    write("top.egg-info/PKG-INFO", "t")
    write("src/x.egg-info/PKG-INFO", "x")
    write(".modelopsignore", "/*.egg-info/\n")
    run("add", ".modelopsignore")
    assert both(run, monkeypatch, "status", "--porcelain", "-u") == "A  .modelopsignore\n?? src/x.egg-info/PKG-INFO\n"


def test_an_index_written_meanwhile_does_not_poison_the_caches(project, run, monkeypatch):
    """diff and ls-files load the index before the pass reads its key: if another process
    writes the index in between, nothing computed for the old one may be kept for the new."""
    from mops.repo import Repository
    from mops.scan import worktree_changes

    write("a.txt", "a")
    write("b.txt", "b")
    run("add", ".")
    both(run, monkeypatch, "status", "--porcelain")
    (project / DOT / "scan-expected").unlink()
    (project / DOT / "scan-last").unlink()
    repo = Repository(project)
    stale = repo.load_index()
    assert run("remove", "a.txt").code == 0  # another process, between the load and the pass
    worktree_changes(repo, stale, untracked=True)
    assert both(run, monkeypatch, "status", "--porcelain", "-u") == "A  b.txt\n?? a.txt\n"


def test_a_removed_subtree_does_not_disable_the_pass(project, run, monkeypatch):
    """The split remembers subtrees; one removed since must not become a start point find fails on."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for sub in ("a", "b", "c"):
        for i in range(10):
            write(f"big/{sub}/f{i}", f"{sub}{i}")
    run("add", ".")
    both(run, monkeypatch, "status", "--porcelain")
    both(run, monkeypatch, "status", "--porcelain")  # now split by the remembered weights
    shutil.rmtree("big/b")
    run("add", "-A", ".")
    from mops.repo import Repository
    from mops.scan import FindScan

    both(run, monkeypatch, "status", "--porcelain")
    sc = FindScan(str(Repository(project).root))
    try:
        assert sc.output() is not None  # find succeeded: the fast pass is still in use
    finally:
        sc.close()


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_a_torn_expected_file_is_rebuilt(project, run, monkeypatch, cut):
    for i in range(30):
        write(f"d/f{i:02d}", f"{i:02d}")
    run("add", ".")
    both(run, monkeypatch, "status", "--porcelain")
    exp = project / DOT / "scan-expected"
    data = exp.read_bytes()
    exp.write_bytes(data[: int(len(data) * cut)])
    (project / DOT / "scan-last").unlink()
    assert both(run, monkeypatch, "status", "--porcelain").count("\n") == 30


def test_status_with_sigchld_ignored(project, run_sub):
    """A parent that ignores SIGCHLD leaves no exit status to collect: status still answers."""
    import subprocess
    import sys

    write("a.txt", "a")
    run_sub("add", "a.txt")
    write("u.txt", "u")
    code = ("import signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); "
            "from mops.cli import main; sys.exit(main(['status', '--porcelain']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (p.returncode, p.stdout) == (0, "A  a.txt\n?? u.txt\n"), p.stderr


def test_hash_thread_failure_is_raised_not_hung():
    from mops.checkout import _ThreadedHash

    class Broken:
        def update(self, _chunk):
            raise MemoryError("no room")

    h = _ThreadedHash(depth=2)
    h._h = Broken()
    with pytest.raises(MemoryError):
        for _ in range(50):  # more than the queue holds: must not block
            h.update(b"x" * 10)
        h.hexdigest()
    h.close()
