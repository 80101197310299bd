"""The worker path (issue 5): warm-cache materialize vs cp -r, and 8-way cold materialize.

Cases:
- ``warm``: a 2 GiB bundle (eight 256 MiB files) already in the shared cache, materialized with
  hardlinks into a fresh directory by a new ``mops`` process, vs ``cp -r`` of the same tree.
- ``cold8``: eight ``mops materialize`` processes started together on one empty cache; the bytes
  they read from the remote (an ``oci:`` layout, every ``fetch_blob`` logged) vs the bundle size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import common as c

SUITE = "materialize"
DESCRIPTION = "warm-cache materialize vs cp -r; 8-way cold materialize fetches the bundle once (issue 5)"
CASES = {"warm": "warm-cache materialize of 2 GiB with hardlinks vs cp -r", "cold8": "8 processes, one cold cache"}

COUNTING = r"""
import os, sys
from mops.ocilayout import OCILayoutTarget
_orig = OCILayoutTarget.fetch_blob
def fetch_blob(self, digest, size=None):
    with open(os.environ["MOPS_BENCH_FETCH_LOG"], "a") as log:
        log.write(f"{digest} {os.path.getsize(self._blob(digest))}\n")
    return _orig(self, digest, size)
OCILayoutTarget.fetch_blob = fetch_blob
from mops.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env(ctx: c.Context) -> dict:
    return {**os.environ, "MOPS_CACHE": str(ctx.scratch / "cache"), "GIT_CONFIG_NOSYSTEM": "1"}


def _bundle(ctx: c.Context, env: dict, n: int, each: int) -> tuple[str, str, int]:
    """A project of ``n`` files of ``each`` bytes pushed to an oci: layout → (remote, digest, bytes)."""
    proj = ctx.scratch / "proj"
    store = ctx.scratch / "bundles"
    c.sh([*c.mops_argv(), "init", str(proj), "--registry", f"oci:{store}"], env=env)
    os.unlink(proj / ".gitignore")
    from mops.config import Config

    cfg = Config.load(proj / ".modelops-bundle" / "config.yaml")
    cfg.set("storage.mode", "registry-only")  # every shard is a registry blob (no external store here)
    cfg.save()
    chunk = os.urandom(1 << 20)
    for i in range(n):
        p = proj / "weights" / f"shard-{i:02d}.safetensors"
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            for j in range(each >> 20):
                f.write(chunk[j % 7:] + chunk[: j % 7] if j % 2 else chunk)  # distinct-ish, cheap to make
            f.write(i.to_bytes(8, "little"))  # every shard distinct
    (proj / "model.py").write_text("class SIR: ...\n")
    c.sh([*c.mops_argv(), "add", "."], cwd=proj, env=env)
    digest = subprocess.run([*c.mops_argv(), "push", "--tag", "bench"], cwd=proj, env=env, capture_output=True,
                            text=True, check=True).stdout.strip()
    total = sum(p.stat().st_size for p in proj.rglob("*") if p.is_file() and ".modelops-bundle" not in p.parts)
    return f"oci:{store}", digest, total


def case_warm(ctx: c.Context, env: dict, remote: str, digest: str, total: int) -> list[c.Result]:
    ref = f"{remote}@{digest}"
    c.sh([*c.mops_argv(), "materialize", ref, str(ctx.scratch / "warmup")], env=env)  # the cache is now warm
    src = ctx.scratch / "copy-source"
    c.sh([*c.mops_argv(), "materialize", "--link", "copy", ref, str(src)], env=env)
    a_dest, b_dest = ctx.scratch / "dest-mops", ctx.scratch / "dest-cp"

    def fresh() -> None:
        for d in (a_dest, b_dest):
            shutil.rmtree(d, ignore_errors=True)

    ra, rb = c.compare(ctx, [*c.mops_argv(), "materialize", "--link", "hardlink", ref, str(a_dest)],
                       ["cp", "-r", str(src), str(b_dest)], env=env, before=fresh)
    ma, mb = c.median(c.walls(ra)), c.median(c.walls(rb))
    return [c.Result(SUITE, f"warm-cache materialize of {c.fmt_bytes(total)} (hardlinks, new process)", c.fmt_s(ma),
                     c.fmt_s(mb), "cp -r", ma / mb, "≤ 0.2 s", ma <= 0.2,
                     {"mops": c.walls(ra), "peer": c.walls(rb), "bytes": total})]


def case_cold8(ctx: c.Context, env: dict, remote: str, digest: str, total: int) -> list[c.Result]:
    ratios = []
    walls = []
    for rep in range(max(1, min(ctx.repeat, 3))):
        cache = ctx.scratch / f"cold-cache-{rep}"
        log = ctx.scratch / f"fetch-{rep}.log"
        e = {**env, "MOPS_CACHE": str(cache), "MOPS_BENCH_FETCH_LOG": str(log)}
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", COUNTING, "materialize", f"{remote}@{digest}",
                                   str(ctx.scratch / f"cold-{rep}-{i}")], env=e, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for i in range(8)]
        for p in procs:
            _o, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"materialize exited {p.returncode}: {err.decode()[-2000:]}")
        walls.append(time.perf_counter() - t0)
        fetched = sum(int(line.split()[1]) for line in log.read_text().splitlines())
        ratios.append(fetched / total)
        for i in range(8):
            shutil.rmtree(ctx.scratch / f"cold-{rep}-{i}", ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    worst = max(ratios)
    return [c.Result(SUITE, f"8-way cold materialize: bytes read from the remote / bundle size ({c.fmt_bytes(total)})",
                     f"{worst:.3f}×", "", "", None, "= 1× (+ config)", worst < 1.001,
                     {"ratios": ratios, "walls": walls})]


def run(ctx: c.Context, only: list[str] | None = None) -> list[c.Result]:
    env = _env(ctx)
    n, each = (8, 256 << 20) if not ctx.quick else (8, 8 << 20)
    ctx.log(f"materialize: building a bundle of {n} × {c.fmt_bytes(each)}")
    remote, digest, total = _bundle(ctx, env, n, each)
    out: list[c.Result] = []
    if only is None or "warm" in only:
        ctx.log("materialize: warm cache vs cp -r")
        out += case_warm(ctx, env, remote, digest, total)
    if only is None or "cold8" in only:
        ctx.log("materialize: 8 processes, cold cache")
        out += case_cold8(ctx, env, remote, digest, total)
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
