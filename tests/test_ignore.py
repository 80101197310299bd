"""Ignore rules: .modelopsignore (gitignore syntax) plus built-in defaults, pruned walks, negation,
and git's rule that a tracked file stays tracked."""

from __future__ import annotations

import os

import pytest
from conftest import write

from mops.ignore import IgnoreRules, walk


def porcelain(run, *extra):
    return run("status", "--porcelain", "-u", *extra).out.splitlines()


def test_builtin_defaults(project, run):
    for p in (".git/config", "__pycache__/m.cpython-311.pyc", "pkg/__pycache__/x.pyc", "a.pyc", ".venv/bin/python",
              "venv/lib/x.py", "node_modules/x/i.js", ".DS_Store", "nb/.ipynb_checkpoints/n.ipynb", "keep.py"):
        write(p, "x")
    assert porcelain(run) == ["?? keep.py"]
    assert run("add", ".").code == 0
    assert run("ls-files").out == "keep.py\n"


def test_modelopsignore_patterns(project, run):
    write(".modelopsignore", "# outputs\n*.log\n/top-only.txt\nbuild/\ndata/**/tmp\n")
    for p in ("a.log", "sub/b.log", "top-only.txt", "sub/top-only.txt", "build/x", "sub/build/y", "data/1/2/tmp", "data/1/keep"):
        write(p, "x")
    assert porcelain(run) == ["?? .modelopsignore", "?? data/1/keep", "?? sub/top-only.txt"]
    ignored = {line[3:] for line in porcelain(run, "--ignored") if line.startswith("!! ")}
    assert ignored == {"a.log", "sub/b.log", "top-only.txt", "build/x", "sub/build/y", "data/1/2/tmp"}


def test_negation(project, run):
    write(".modelopsignore", "*.log\n!keep.log\nout/\n!out/wanted.txt\n")
    for p in ("a.log", "keep.log", "d/keep.log", "d/other.log", "out/wanted.txt", "out/junk"):
        write(p, "x")
    # as in git, a file cannot be re-included when its directory is excluded
    assert porcelain(run) == ["?? .modelopsignore", "?? d/keep.log", "?? keep.log"]
    r = run("check-ignore", "a.log", "keep.log", "d/other.log", "out/wanted.txt")
    assert r.code == 0 and r.out.splitlines() == ["a.log", "d/other.log", "out/wanted.txt"]


def test_ignored_directories_are_pruned_not_walked(project, monkeypatch):
    write(".modelopsignore", "big/\n")
    write("big/a/b/c.bin", "x")
    write("src/m.py", "x")
    write("src/__pycache__/m.pyc", "x")
    seen = []
    real_scandir = os.scandir

    def spy(path="."):
        seen.append(os.path.relpath(os.fspath(path), project))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    got = [rel for rel, _de, _ig in walk(project, IgnoreRules(project))]
    assert got == [".modelopsignore", "src/m.py"]
    assert not any(s.startswith(("big", "src/__pycache__", ".modelops-bundle")) for s in seen), seen
    assert "src" in seen


def test_status_collapses_ignored_directory(project, run):
    write(".modelopsignore", "cache/\n")
    write("cache/deep/er/x", "x")
    write("f", "1")
    assert run("status", "--porcelain", "--ignored").out.splitlines() == ["?? .modelopsignore", "?? f", "!! cache/"]


def test_tracked_file_stays_tracked_after_it_is_ignored(project, run):
    write("model.log", "v1")
    write("out/result.csv", "v1")
    assert run("add", "model.log", "out").code == 0
    write(".modelopsignore", "*.log\nout/\n")
    write("model.log", "v2")
    write("out/result.csv", "v2")
    write("out/new.csv", "untracked and ignored")
    assert porcelain(run) == ["AM model.log", "AM out/result.csv", "?? .modelopsignore"]
    assert run("ls-files", "-m").out == "model.log\nout/result.csv\n"
    # `add .` stages changes to tracked files even though they are ignored now, and nothing new
    assert run("add", ".").code == 0
    assert porcelain(run) == ["A  .modelopsignore", "A  model.log", "A  out/result.csv"]
    assert run("cat-file", "-p", run("ls-files", "-s").out.splitlines()[1].split()[1]).out == "v2"
    # check-ignore does not report tracked files (unless asked about the rules alone)
    assert run("check-ignore", "model.log", "out/new.csv").out == "out/new.csv\n"
    assert run("check-ignore", "--no-index", "model.log").out == "model.log\n"
    # and deleting them is staged by add -A
    os.remove("model.log")
    assert porcelain(run)[1] == "AD model.log"
    assert run("add", "-A").code == 0
    assert run("ls-files").out == ".modelopsignore\nout/result.csv\n"


def test_add_ignored_needs_force(project, run):
    write(".modelopsignore", "*.bin\nsecret/\n")
    write("w.bin", "x")
    write("secret/k", "x")
    for spec in ("w.bin", "secret/k"):
        r = run("add", spec)
        assert r.code == 2 and "ignored" in r.err and f"mops add -f {spec}" in r.err
    assert run("add", "secret").code == 0  # a directory: its ignored files are skipped
    assert run("ls-files").out == ""
    assert run("add", "-f", "w.bin", "secret/k").code == 0
    assert run("ls-files").out == "secret/k\nw.bin\n"


def test_check_ignore_verbose_and_exit_codes(project, run):
    write(".modelopsignore", "*.tmp\nscratch/\n")
    r = run("check-ignore", "-v", "a.tmp", "scratch/x", "ok.txt")
    assert r.code == 0
    assert r.out.splitlines() == ["*.tmp\ta.tmp", "scratch/\tscratch/x"]
    assert run("check-ignore", "ok.txt").code == 1
    r = run("check-ignore", "-z", "a.tmp", "b.tmp")
    assert r.out == "a.tmp\0b.tmp\0"


@pytest.mark.parametrize("line", ["*.log", "logs/", "/abs.txt", "a/**/b", "!x"])
def test_rules_agree_with_git(tmp_path, line):
    """Our matcher and git's, on the same rules and paths."""
    import subprocess

    paths = ["x.log", "d/x.log", "logs/a", "d/logs/a", "abs.txt", "d/abs.txt", "a/b", "a/1/2/b", "x", "d/x"]
    rules = f"{line}\n*.never\n"
    (tmp_path / ".modelopsignore").write_text(rules)
    (tmp_path / ".gitignore").write_text(rules)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    ours = IgnoreRules(tmp_path)
    for p in paths:
        git = subprocess.run(["git", "-C", str(tmp_path), "check-ignore", "-q", "--no-index", p]).returncode == 0
        parts = p.split("/")
        mine = any(ours.match("/".join(parts[:i]), i < len(parts)) for i in range(1, len(parts) + 1))
        assert mine == git, (line, p)
