"""Shared fixtures: run the CLI in-process (fast) or as a real subprocess, in a fresh project."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# fixtures `registry`, `auth_registry`, `registry_factory`: real distribution servers on 127.0.0.1;
# `s3_store`, `azure_store`, `gcs_store`, `file_store`, `any_store`: object stores (services.py)
pytest_plugins = ["registry_server", "services"]


@dataclass
class Result:
    code: int
    out: str
    err: str
    out_bytes: bytes = b""


def _run_inprocess(args: list[str], stdin: bytes | None = None) -> Result:
    from mops.cli import main

    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", write_through=True)
    old = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = out, err
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        code = main(args)
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr, sys.stdin = old
    ob = out_b.getvalue()
    return Result(code, ob.decode("utf-8", "replace"), err_b.getvalue().decode("utf-8", "replace"), ob)


@pytest.fixture
def run():
    """``run("status", "--porcelain")`` → Result(code, out, err), in-process, in the current dir."""

    def _run(*args: str, stdin: bytes | None = None) -> Result:
        return _run_inprocess([str(a) for a in args], stdin)

    return _run


@pytest.fixture
def run_sub():
    """The installed ``mops`` as a separate process (for locks, signals, binary output)."""

    def _run(*args: str, cwd=None, stdin: bytes | None = None, env=None) -> Result:
        p = subprocess.run([sys.executable, "-m", "mops", *map(str, args)], cwd=cwd, input=stdin,
                           capture_output=True, env={**os.environ, **(env or {})})
        return Result(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), p.stdout)

    return _run


@pytest.fixture
def project(tmp_path, monkeypatch, run) -> Path:
    """An initialised project with an empty worktree; the current directory is its root."""
    root = tmp_path / "proj"
    r = run("init", str(root))
    assert r.code == 0, r.err
    (root / ".gitignore").unlink()  # init's own file; tests start from an empty worktree
    monkeypatch.chdir(root)
    return root


def write(path: Path | str, data: bytes | str = b"x", mode: int | None = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(p, mode)
    return p
