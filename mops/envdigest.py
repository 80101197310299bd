"""The environment digest (SPEC §3): what, besides code and data, decides a model's results.

Inputs, each recorded so ``mops env`` can show what went into the digest:

* ``python`` — implementation and ``major.minor`` (``cpython-3.11``).  Patch releases do not change
  numerical results, and counting them would invalidate every cached result at each OS update.
* ``platform`` — ``sys.platform`` and the machine architecture (``linux-x86_64``); not the kernel
  release or the host name.
* ``dependencies`` — the resolved dependency set as sorted ``name==version`` pairs, from the first
  of ``uv.lock``, ``pylock.toml``, ``poetry.lock``, ``requirements*.txt`` found at the project root;
  else from the distributions installed in the running interpreter.  Names are normalised (PEP 503),
  so reformatting a lock file does not change the digest; a version change does.
* ``container_image`` — ``$MOPS_CONTAINER_IMAGE`` when set (put the image digest there in CI).
* ``cuda`` — ``$CUDA_VERSION`` (set by NVIDIA's images), else ``/usr/local/cuda/version.json``.
* ``rng`` — the random number generators a model gets by default: Python's ``random``
  (MT19937) and, when numpy is installed, numpy's default bit generator (PCG64).
* ``threads`` — ``$OMP_NUM_THREADS`` when set, else the CPU count: parallel reductions round
  differently with a different number of threads.

The digest is ``composite(CTX_ENVIRONMENT, ...)`` over these fields (blake3, domain-separated).
Nothing here imports heavy libraries or runs subprocesses: it is computed on every write-tree of
a project with registered models.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from .semantic import CTX_DEPENDENCIES, CTX_ENVIRONMENT, composite

LOCK_FILES = ("uv.lock", "pylock.toml", "poetry.lock")
IMAGE_ENV = "MOPS_CONTAINER_IMAGE"
THREAD_ENV = "OMP_NUM_THREADS"


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _toml_packages(path: Path, table: str) -> list[tuple[str, str]]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    out = []
    for p in data.get(table, []) or []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            out.append((canonical_name(p["name"]), str(p.get("version", ""))))
    return out


_REQ_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def _requirements(paths: list[Path]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith(("#", "-")):
                continue
            m = _REQ_RE.match(line)
            if m:
                spec = re.sub(r"\s+", "", m.group(3).split(";", 1)[0])
                out.append((canonical_name(m.group(1)), spec))
    return out


def installed_distributions(paths: list[str] | None = None) -> list[tuple[str, str]]:
    """``(name, version)`` of the distributions on ``sys.path``, read from ``*.dist-info`` names.

    Directory names only (``requests-2.31.0.dist-info``): no metadata file is opened, so this
    takes a millisecond where ``importlib.metadata`` takes tens.
    """
    seen: dict[str, str] = {}
    if paths is None:  # site directories only: the current directory must not change the answer
        paths = [p for p in sys.path if os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages")]
    for entry in paths:
        if not entry or not os.path.isdir(entry):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for n in names:
            if n.endswith(".dist-info") or n.endswith(".egg-info"):
                stem = n.rsplit(".", 1)[0]
                parts = stem.split("-")
                if len(parts) >= 2:
                    seen.setdefault(canonical_name(parts[0]), parts[1])  # first on sys.path wins
    return sorted(seen.items())


def dependency_set(root: str | os.PathLike | None) -> tuple[str, list[tuple[str, str]]]:
    """(source, sorted unique (name, version-or-spec) pairs)."""
    if root is not None:
        root = Path(root)
        for name in LOCK_FILES:
            f = root / name
            if f.is_file():
                table = "packages" if name == "pylock.toml" else "package"
                return name, sorted(set(_toml_packages(f, table)))
        reqs = sorted(root.glob("requirements*.txt"))
        if reqs:
            return ",".join(p.name for p in reqs), sorted(set(_requirements(reqs)))
    return "installed", installed_distributions()


def _cuda() -> str | None:
    v = os.environ.get("CUDA_VERSION")
    if v:
        return v
    f = Path("/usr/local/cuda/version.json")
    if f.is_file():
        import json

        try:
            return str(json.loads(f.read_text())["cuda"]["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return None


def _rng(deps: list[tuple[str, str]]) -> str:
    import importlib.util

    gens = ["python:MT19937"]
    if any(n == "numpy" for n, _ in deps) or importlib.util.find_spec("numpy") is not None:
        gens.append("numpy:PCG64")
    return ",".join(gens)


def environment(root: str | os.PathLike | None = None, with_packages: bool = False) -> dict[str, Any]:
    """The environment record: its digest and every input (``packages`` only when asked)."""
    import platform

    source, deps = dependency_set(root)
    dep_digest = composite(CTX_DEPENDENCIES, [("pkg", n, v) for n, v in deps])
    rec: dict[str, Any] = {
        "python": f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}",
        "platform": f"{sys.platform}-{platform.machine().lower() or 'unknown'}",
        "dependencies": {"source": source, "count": len(deps), "digest": dep_digest},
        "rng": _rng(deps),
        "threads": os.environ.get(THREAD_ENV, "").strip() or str(os.cpu_count() or 1),
    }
    image = os.environ.get(IMAGE_ENV, "").strip()
    if image:
        rec["container_image"] = image
    cuda = _cuda()
    if cuda:
        rec["cuda"] = cuda
    fields = [(k, v) for k, v in rec.items() if isinstance(v, str)]
    fields += [("dependencies", dep_digest)]  # the set, not where it was read from
    rec["digest"] = composite(CTX_ENVIRONMENT, fields)
    if with_packages:
        rec["dependencies"]["packages"] = [f"{n}=={v}" if v and v[0].isalnum() else n + v for n, v in deps]
    return rec
