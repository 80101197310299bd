"""Roles: named path patterns recorded in the bundle; --role on pull, materialize and verify."""

from __future__ import annotations

import json

import pytest
from conftest import write
from helpers_bundle import publish, tree

FILES = {"models/sir.py": b"x\n", "data/train.csv": b"a,b\n", "weights/w.bin": b"\0" * 100, "README.md": b"r\n"}
ROLES = {"code": ["models/", "README.md"], "training": ["data/", "models/"], "default": ["models/", "weights/"]}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MOPS_CACHE", str(tmp_path / "cache"))


def test_roles_are_recorded_in_the_bundle(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES, roles=ROLES)
    monkeypatch.chdir(tmp_path)
    doc = json.loads(run("show", "--json", f"oci:{store}:v1").out)
    assert doc["roles"] == ROLES


def test_roles_from_pyproject(run, project, tmp_path):
    write("pyproject.toml", '[tool.modelops-bundle.roles]\ncode = ["*.py"]\n')
    write("m.py", "x\n")
    write("w.bin", "w")
    run("add", ".")
    run("remote", "add", "origin", f"oci:{tmp_path / 'b'}")
    assert run("push").code == 0
    assert run("materialize", "--role", "code", "latest", str(tmp_path / "out")).code == 0
    assert tree(tmp_path / "out") == {"m.py": b"x\n"}


def test_role_selects_on_materialize_and_pull(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES, roles=ROLES)
    monkeypatch.chdir(tmp_path)
    assert run("materialize", "--role", "training", f"oci:{store}:v1", "t").code == 0
    assert sorted(tree(tmp_path / "t")) == ["data/train.csv", "models/sir.py"]
    assert run("materialize", f"oci:{store}:v1", "d").code == 0  # default role
    assert sorted(tree(tmp_path / "d")) == ["models/sir.py", "weights/w.bin"]
    assert run("init", str(tmp_path / "worker"), "--registry", f"oci:{store}").code == 0
    monkeypatch.chdir(tmp_path / "worker")
    assert run("pull", "v1", "--role", "code").code == 0
    assert sorted(p for p in tree(tmp_path / "worker") if not p.startswith((".modelops-bundle", ".gitignore"))) == [
        "README.md", "models/sir.py"]


def test_unknown_role_lists_the_roles(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES, roles=ROLES)
    monkeypatch.chdir(tmp_path)
    for cmd in (["materialize", "--role", "eval", f"oci:{store}:v1", "x"], ["verify", "--role", "eval", f"oci:{store}:v1"]):
        r = run(*cmd)
        assert r.code == 2
        assert "eval" in r.err and "code, default, training" in r.err


def test_no_roles_means_everything_and_named_role_exits_2(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    assert run("materialize", f"oci:{store}:v1", "all").code == 0
    assert tree(tmp_path / "all") == FILES
    r = run("materialize", "--role", "code", f"oci:{store}:v1", "x")
    assert r.code == 2 and "none" in r.err
