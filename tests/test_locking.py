"""One index writer at a time: a second writer exits 12 naming the lock file and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from conftest import write

from mops.index import Index

WRITERS = [
    ["add", "b"],
    ["add", "-A"],
    ["rm", "--cached", "a"],
    ["remove", "a"],
    ["rm", "a"],
    ["update-index", "--add", "b"],
    ["checkout-index", "-a", "-f"],
    ["read-tree", "TREE"],
]


@pytest.fixture
def staged(project, run):
    write("a", "1")
    assert run("add", "a").code == 0
    write("b", "2")
    return project


def lock_path(project):
    return project / ".modelops-bundle" / "index.lock"


@pytest.mark.parametrize("cmd", WRITERS, ids=lambda c: " ".join(c[:2]))
def test_existing_lock_file_exits_12_and_changes_nothing(staged, run, cmd):
    if cmd[-1] == "TREE":
        cmd = [*cmd[:-1], run("write-tree").out.strip()]
    lock = lock_path(staged)
    lock.write_bytes(b"")
    index_before = (staged / ".modelops-bundle" / "index").read_bytes()
    r = run(*cmd)
    assert r.code == 12, (r.code, r.err)
    assert str(lock) in r.err  # names the lock file
    assert "hint:" in r.err
    assert "Traceback" not in r.err
    assert lock.exists()  # someone else's lock is never removed
    assert (staged / ".modelops-bundle" / "index").read_bytes() == index_before
    assert os.path.exists("a")  # `rm` deleted nothing


def test_readers_still_work_while_locked(staged, run):
    lock_path(staged).write_bytes(b"")
    assert run("status", "--porcelain").out == "A  a\n?? b\n"
    assert run("ls-files").out == "a\n"
    assert run("diff", "--staged").out == "A\ta\n"


HOLDER = textwrap.dedent(
    """
    import sys, time
    from mops.index import IndexLock
    with IndexLock(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.read()  # hold until the test closes our stdin
    """
)


def test_lock_held_by_another_process(staged, run_sub):
    index = staged / ".modelops-bundle" / "index"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(index)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        r = run_sub("add", "b", cwd=staged)
        assert r.code == 12
        assert f"{index}.lock" in r.err
        assert Index.load(index).entries.keys() == {"a"}
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert not lock_path(staged).exists()  # released by its owner
    assert run_sub("add", "b", cwd=staged).code == 0
    assert Index.load(index).entries.keys() == {"a", "b"}


def test_concurrent_adds_never_corrupt_the_index(project):
    """Racing writers: each either succeeds or exits 12; the index ends up holding exactly the
    files of the writers that succeeded."""
    n = 8
    for i in range(n):
        write(f"f{i}", str(i) * (i + 1))
    procs = [subprocess.Popen([sys.executable, "-m", "mops", "add", f"f{i}"], cwd=project, stderr=subprocess.PIPE) for i in range(n)]
    codes = {}
    for i, p in enumerate(procs):
        _, err = p.communicate(timeout=60)
        codes[i] = p.returncode
        assert p.returncode in (0, 12), err
        if p.returncode == 12:
            assert b"index.lock" in err
    index = Index.load(project / ".modelops-bundle" / "index")  # loads: not corrupt
    assert set(index.entries) == {f"f{i}" for i, c in codes.items() if c == 0}
    assert not lock_path(project).exists()
