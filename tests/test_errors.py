"""One exception hierarchy, mapped once to SPEC §6 exit codes; messages name what is at fault."""

from __future__ import annotations

import os

import pytest
from conftest import write

from mops import errors


@pytest.mark.parametrize(
    "cls, code",
    [
        (errors.NotFound, 1),
        (errors.UsageError, 2),
        (errors.UnsafePath, 2),
        (errors.RemoteUnavailable, 3),
        (errors.AuthError, 10),
        (errors.IntegrityError, 11),
        (errors.ConflictError, 12),
        (errors.Interrupted, 130),
        (errors.MopsError, 70),
    ],
)
def test_exit_code_of_each_class(cls, code):
    assert cls("x").exit_code == code


def test_special_errors_carry_their_codes_and_hints():
    assert errors.NotAProject("/x").exit_code == 2
    e = errors.CorruptIndex("/p/.modelops-bundle/index", "truncated")
    assert e.exit_code == 2 and "/p/.modelops-bundle/index" in e.message and "mops add -A" in e.hint
    lock = errors.LockHeld("/p/.modelops-bundle/index.lock")
    assert lock.exit_code == 12 and "/p/.modelops-bundle/index.lock" in lock.message and lock.hint


@pytest.mark.parametrize("cls", [errors.NotFound, errors.UsageError, errors.RemoteUnavailable, errors.AuthError,
                                 errors.IntegrityError, errors.ConflictError])
def test_cli_maps_each_error_to_its_code_and_prints_message_and_hint(project, run, monkeypatch, cls):
    import plumbing.write_tree as wt

    def boom(repo, index=None):
        raise cls("object sha256:abc is broken", hint="run mops fix-it")

    monkeypatch.setattr(wt, "write_tree", boom)
    r = run("write-tree")
    assert r.code == cls.exit_code
    assert r.err == "mops: error: object sha256:abc is broken\nhint: run mops fix-it\n"
    assert r.out == ""


def test_a_bug_exits_70_without_traceback_unless_verbose(project, run, monkeypatch):
    import plumbing.write_tree as wt

    def bug(repo, index=None):
        return {}["missing"]

    monkeypatch.setattr(wt, "write_tree", bug)
    r = run("write-tree")
    assert r.code == 70
    assert "internal error" in r.err and "KeyError" in r.err and "-v" in r.err
    assert "Traceback" not in r.err
    r = run("-v", "write-tree")
    assert r.code == 70 and "Traceback" in r.err


def test_verbose_shows_traceback_of_a_user_error(project, run):
    r = run("-v", "cat-file", "-p", "sha256:" + "e" * 64)
    assert r.code == 1 and "Traceback" in r.err and "NotFound" in r.err
    r = run("cat-file", "-p", "sha256:" + "e" * 64)
    assert "Traceback" not in r.err


def test_interrupt_exits_130(project, run, monkeypatch):
    import plumbing.write_tree as wt

    def interrupted(repo, index=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(wt, "write_tree", interrupted)
    r = run("write-tree")
    assert r.code == 130 and "interrupted" in r.err


# -- each code, reached the way a user reaches it ------------------------------------------
def test_code_0_and_1(project, run):
    write("a", "1")
    assert run("add", "a").code == 0
    r = run("add", "nothing-matches")
    assert r.code == 1 and "nothing-matches" in r.err
    r = run("cat-file", "-t", "sha256:" + "0" * 64)
    assert r.code == 1 and "sha256:" + "0" * 64 in r.err


def test_code_2_usage(project, run, tmp_path):
    r = run("add", "--no-such-option")
    assert r.code == 2 and "--no-such-option" in r.err
    r = run("cat-file", "-p", "sha256:short")
    assert r.code == 2 and "sha256:short" in r.err
    r = run("-C", str(tmp_path / "missing"), "status")
    assert r.code == 2
    r = run("no-such-command")
    assert r.code == 2


def test_code_2_outside_project_from_any_command(tmp_path, monkeypatch, run):
    monkeypatch.chdir(tmp_path)
    for cmd in (["status"], ["add", "x"], ["ls-files"], ["write-tree"], ["diff"], ["fsck"], ["rm", "x"]):
        r = run(*cmd)
        assert r.code == 2, cmd
        assert "not a mops project (run mops init)" in r.err and str(tmp_path) in r.err


def test_code_2_invalid_config_names_the_key(project, run):
    cfg = project / ".modelops-bundle" / "config.yaml"
    cfg.write_text("core:\n  big_file_threshold: lots\n")
    write("a", "1")
    r = run("add", "a")
    assert r.code == 2 and "core.big_file_threshold" in r.err and "lots" in r.err and "config.yaml" in r.err
    cfg.write_text("colour: blue\n")
    r = run("add", "a")
    assert r.code == 2 and "colour" in r.err
    cfg.write_text("core: [unclosed\n")
    r = run("add", "a")
    assert r.code == 2 and "config.yaml" in r.err and "Traceback" not in r.err


def test_code_11_and_12(project, run):
    write("a", "content")
    run("add", "a")
    d = run("ls-files", "-s").out.split()[1]
    obj = project / ".modelops-bundle" / "objects" / "sha256" / d[7:9] / d[7:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"rotten!")
    r = run("fsck")
    assert r.code == 11 and d in r.out
    r = run("init")
    assert r.code == 12 and str(project) in r.err


def test_json_error_output_is_not_mixed_into_stdout(project, run):
    r = run("status", "--json")
    assert r.code == 0
    (project / ".modelops-bundle" / "index").write_bytes(b"junk")
    r = run("status", "--json")
    assert r.code == 2 and r.out == ""
