"""The local workflow end to end, as a user sees it on the command line."""

from __future__ import annotations

import hashlib
import json
import os

from conftest import write


def test_version_is_fast_path(run):
    r = run("--version")
    assert r.code == 0 and r.out.startswith("mops ")


def test_outside_project_exits_2(tmp_path, monkeypatch, run):
    monkeypatch.chdir(tmp_path)
    r = run("status")
    assert r.code == 2
    assert "not a mops project (run mops init)" in r.err


def test_init_twice_refuses_and_touches_nothing(project, run):
    write(".gitignore", "*.log\n")
    before = sorted(p.name for p in (project / ".modelops-bundle").iterdir())
    r = run("init")
    assert r.code == 12 and "already" in r.err
    assert sorted(p.name for p in (project / ".modelops-bundle").iterdir()) == before
    assert (project / ".gitignore").read_text() == "*.log\n"


def test_init_creates_dir_and_gitignore_once(tmp_path, run):
    d = tmp_path / "new" / "deeper"
    write(tmp_path / "new" / "deeper" / ".gitignore", "*.log")  # existing, no final newline
    assert run("init", str(d)).code == 0
    assert (d / ".gitignore").read_text() == "*.log\n.modelops-bundle/\n"


def test_add_status_porcelain_cycle(project, run):
    write("a.txt", "alpha")
    write("sub/b.py", "print(1)")
    assert run("status", "--porcelain").out == "?? a.txt\n?? sub/\n"
    assert run("status", "--porcelain", "-u").out == "?? a.txt\n?? sub/b.py\n"
    assert run("add", "a.txt", "sub").code == 0
    assert run("status", "--porcelain").out == "A  a.txt\nA  sub/b.py\n"
    write("a.txt", "alpha2")
    os.remove("sub/b.py")
    assert run("status", "--porcelain").out == "AM a.txt\nAD sub/b.py\n"
    assert run("add", "-A").code == 0
    assert run("status", "--porcelain").out == "A  a.txt\n"


def test_add_same_file_two_spellings_tracks_once(project, run):
    write("f", "1")
    assert run("add", "./f", "f").code == 0
    assert run("ls-files").out == "f\n"


def test_add_outside_project_exits_2_stages_nothing(project, tmp_path, run):
    write("ok.txt", "1")
    write(tmp_path / "outside.txt", "2")
    r = run("add", "ok.txt", str(tmp_path / "outside.txt"))
    assert r.code == 2 and "outside the project" in r.err
    assert run("ls-files").out == ""


def test_add_from_subdirectory(project, run, monkeypatch):
    write("sub/x.txt", "1")
    write("top.txt", "2")
    monkeypatch.chdir(project / "sub")
    assert run("add", "x.txt", "../top.txt").code == 0
    assert run("ls-files").out == "sub/x.txt\ntop.txt\n"
    assert run("status", "--porcelain").out == "A  sub/x.txt\nA  top.txt\n"


def test_ignored_needs_force_and_tracked_stays_tracked(project, run):
    write(".modelopsignore", "*.log\nbuild/\n")
    write("x.log", "1")
    write("build/out.bin", "2")
    r = run("add", "x.log")
    assert r.code == 2 and "-f" in (r.err)
    assert run("add", "-f", "x.log").code == 0
    assert run("status", "--porcelain", "--ignored").out.splitlines() == ["A  x.log", "?? .modelopsignore", "!! build/"]
    write("x.log", "changed")
    assert "AM x.log" in run("status", "--porcelain").out


def test_hash_object_equals_sha256sum(project, run):
    data = os.urandom(3 * 1024 * 1024 + 7)
    write("big.bin", data)
    assert run("hash-object", "big.bin").out.strip() == "sha256:" + hashlib.sha256(data).hexdigest()


def test_rm_and_remove(project, run):
    write("a", "1")
    write("b", "2")
    run("add", "a", "b")
    assert run("remove", "a").code == 0
    assert os.path.exists("a")
    assert run("rm", "b").code == 0
    assert not os.path.exists("b")
    assert run("ls-files").out == ""
    r = run("rm", "nothing-here")
    assert r.code == 1


def test_status_json(project, run):
    write("a", "1")
    run("add", "a")
    doc = json.loads(run("status", "--json").out)
    assert doc["schema"] == "mops.status/v1"
    assert doc["staged"] == [{"status": "A", "path": "a"}]


def test_diff_exit_code(project, run):
    write("a", "1")
    run("add", "a")
    assert run("diff", "--exit-code").code == 0
    write("a", "22")
    r = run("diff", "--exit-code")
    assert r.code == 1 and r.out == "M\ta\n"
    assert run("diff", "--staged").out == "A\ta\n"
