"""The main job, end to end: publish a small modelling project as a bundle into an ``oci:`` layout
directory and pull it into a fresh project on the "worker" side, then check they are identical.

Run with ``make demo``.  No server is needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def mops(*args: str, cwd: Path) -> str:
    p = subprocess.run([sys.executable, "-m", "mops", *args], cwd=cwd, capture_output=True, text=True)
    sys.stderr.write(p.stderr)
    if p.returncode != 0:
        sys.exit(f"mops {' '.join(args)} failed with exit code {p.returncode}")
    return p.stdout.strip()


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(".modelops-bundle/"):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mops-demo-") as tmp:
        tmp = Path(tmp)
        laptop, worker, store = tmp / "laptop", tmp / "worker", tmp / "bundles"
        (laptop / "models").mkdir(parents=True)
        (laptop / "data").mkdir()
        (laptop / "models" / "sir.py").write_text(
            "class SIR:\n    def parameters(self):\n        return {'beta': 0.3, 'gamma': 0.1}\n\n"
            "    def simulate(self, days=100):\n        return days\n")
        (laptop / "data" / "cases.csv").write_text("day,cases\n" + "".join(f"{d},{d * 3}\n" for d in range(365)))
        (laptop / "data" / "weights.bin").write_bytes(os.urandom(8 * 1024 * 1024))
        print(f"== laptop: {laptop}")
        mops("init", "--registry", f"oci:{store}", cwd=laptop)
        mops("add", ".", cwd=laptop)
        print(mops("status", cwd=laptop))
        digest = mops("push", "--tag", "v1", cwd=laptop)
        print(f"pushed bundle {digest}")
        print(f"== worker: {worker}")
        worker.mkdir()
        mops("init", "--registry", f"oci:{store}", cwd=worker)
        mops("pull", "v1", cwd=worker)
        print(mops("show", "v1", cwd=worker))
        resolved = mops("resolve", "v1", cwd=worker)
        a, b = tree_digest(laptop), tree_digest(worker)
        if a != b:
            sys.exit(f"round trip differs: {sorted(set(a.items()) ^ set(b.items()))}")
        if not resolved.endswith(digest):
            sys.exit(f"resolved {resolved}, pushed {digest}")
        print(f"round trip OK: {len(a)} files identical; bundle {resolved}")


if __name__ == "__main__":
    main()
