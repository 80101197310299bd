"""Publishing test bundles to an oci: layout (shared by the worker-path tests)."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import write


def set_roles(root: Path, roles: dict[str, list[str]]) -> None:
    from mops.config import Config

    cfg = Config.load(root / ".modelops-bundle" / "config.yaml")
    for role, pats in roles.items():
        cfg.set(f"roles.{role}", pats)
    cfg.save()


def publish(run, tmp_path: Path, store: Path, files: dict[str, bytes], tag: str = "v1", modes: dict[str, int] | None = None,
            roles: dict[str, list[str]] | None = None, name: str = "laptop") -> str:
    """Push ``files`` as a bundle to ``oci:store:tag`` from project ``tmp_path/name``; return the digest."""
    root = tmp_path / name
    old = os.getcwd()
    if not root.exists():
        assert run("init", str(root), "--registry", f"oci:{store}").code == 0
        (root / ".gitignore").unlink()
    os.chdir(root)
    try:
        for rel, data in files.items():
            write(rel, data, (modes or {}).get(rel))
        if roles:
            set_roles(root, roles)
        assert run("add", "-A", ".").code == 0
        r = run("push", "--tag", tag)
        assert r.code == 0, r.err
        return r.out.strip()
    finally:
        os.chdir(old)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
