"""Registry benchmarks (issue 3): push and pull of 1 GiB, no-op push, incremental push.

Every case runs against a ``docker-registry`` (distribution 2.8) that the suite starts on
127.0.0.1 itself (``tests/registry_server.start_registry``: plain HTTP, filesystem storage,
access log), all cases in one run on one machine:

1. ``push``: ``mops push`` of a project holding one new 1 GiB file (fresh random bytes every
   round, staged with ``mops add`` beforehand, untimed) vs ``curl -T`` of the same file to an
   upload session (POST …/blobs/uploads/ untimed, then PUT ``?digest=`` timed: the server's
   upload ceiling) vs oras-py's ``OrasClient.push`` of the same file; and, for information,
   ``RegistryTarget.push_blob`` of the file alone (the transfer loop without the command).  The registry's storage
   is wiped before every upload so no tool ever finds the blob there.  Targets: ≥ 0.9× curl's
   throughput, faster than oras-py, mops peak RSS ≤ 150 MB.
2. ``pull``: cold ``mops pull`` of a freshly pushed 1 GiB bundle into a new project (every
   byte verified, written atomically and durably) vs oras-py's ``pull`` of the same bundle
   (which verifies nothing); ``mops fetch`` (object store only) for information.  Target ≥ 3×
   oras-py's throughput.  ``curl -o`` of the blob (the server's and this disk's ceiling) for
   information.
3. ``noop``: the second ``mops push`` of a 10,000-file bundle: ≤ 1 s (and ≤ 3 requests).
4. ``incremental``: after changing 1 file of 1,000, ``mops push`` uploads exactly one blob plus
   config and manifest: the registry's access log is counted, method by method.

The 1 GiB cases run ``--repeat`` rounds (at least 2) after one warm-up round, and the tools take
turns going first.  Every timed command runs under GNU time (``/usr/bin/time``) for its
own peak RSS; dirty pages are flushed (``sync``) before every timed command so that no tool pays
for another's writes.
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a plain script directory
    import common as c  # type: ignore[no-redef]

SUITE = "registry"
DESCRIPTION = "push/pull of 1 GiB vs curl and oras-py, no-op and incremental push, on a local docker-registry (issue 3)"

BIG = 1 << 30
NOOP_FILES = 10_000
INCR_FILES = 1_000
RSS_LIMIT = 150 * 1000 * 1000  # "150 MB"
REPO = Path(__file__).resolve().parent.parent

ORAS_PUSH = r"""
import os, sys
import oras.client
host, repo, path = sys.argv[1:4]
os.chdir(os.path.dirname(path))
client = oras.client.OrasClient(hostname=host, insecure=True)
r = client.push(target=f"{host}/{repo}:v1", files=[os.path.basename(path)], quiet=True)
sys.exit(0 if getattr(r, "status_code", 201) in (200, 201) else 1)
"""

# mops' transfer loop alone (RegistryTarget.push_blob of the file): the command minus its fixed costs
API_PUSH = r"""
import sys
from mops.registry import RegistryTarget
host, repo, path, digest, size = sys.argv[1:6]
RegistryTarget(host, repo).push_blob(digest, int(size), lambda: open(path, "rb"))
"""

ORAS_PULL = r"""
import sys
import oras.client
host, ref, outdir = sys.argv[1:4]
client = oras.client.OrasClient(hostname=host, insecure=True)
files = client.pull(target=f"{host}/{ref}", outdir=outdir)
sys.exit(0 if files else 1)
"""


Sample = c.Sample
timed = c.timed


def _env() -> dict:
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    for k in ("MOPS_REGISTRY_USERNAME", "MOPS_REGISTRY_PASSWORD"):  # anonymous, like the peers
        env.pop(k, None)
    return env


class Bench:
    """The registry and what every case shares."""

    def __init__(self, ctx: c.Context):
        self.ctx = ctx
        self.env = _env()
        tests = str(REPO / "tests")
        if tests not in sys.path:
            sys.path.insert(0, tests)
        from registry_server import start_registry  # Debian's docker-registry, as in the tests

        self.reg = start_registry(ctx.scratch / "registry")
        self.mops = c.mops_argv()
        self.counter = 0

    def stop(self) -> None:
        self.reg.stop()

    def repo_name(self, stem: str) -> str:
        self.counter += 1
        return f"bench/{stem}-{self.counter}"

    def wipe(self) -> None:
        """Forget every blob and repository (the server keeps no cache: it stats its files)."""
        shutil.rmtree(self.reg.root / "docker", ignore_errors=True)

    def project(self, root: Path, repo: str, registry_only: bool = True) -> None:
        c.sh([*self.mops, "init", str(root), "--registry", f"{self.reg.host}/{repo}"], env=self.env)
        (root / ".gitignore").unlink(missing_ok=True)
        if registry_only:  # a 1 GiB file would go to an external store by default
            c.sh([sys.executable, "-c", "from mops.repo import Repository; r = Repository('.'); "
                  "r.config.set('storage.mode', 'registry-only'); r.config.save()"], cwd=root, env=self.env)

    def requests_during(self, fn) -> tuple[object, list[tuple[str, str, int]]]:
        mark = self.reg.mark()
        out = fn()
        time.sleep(0.2)  # let the server finish its log lines
        return out, self.reg.requests(mark)

    def curl_upload(self, repo: str, path: Path, digest: str) -> Sample:
        req = urllib.request.Request(f"{self.reg.url}/v2/{repo}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(req) as resp:
            loc = resp.headers["Location"]
        if loc.startswith("/"):
            loc = self.reg.url + loc
        url = loc + ("&" if "?" in loc else "?") + f"digest={digest}"
        return timed(["curl", "-sS", "--fail", "-o", "/dev/null", "-T", str(path), url], env=self.env)

    def blob_present(self, repo: str, digest: str) -> bool:
        req = urllib.request.Request(f"{self.reg.url}/v2/{repo}/blobs/{digest}", method="HEAD")
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status == 200
        except urllib.error.HTTPError:
            return False


def _rounds(ctx: c.Context) -> int:
    return max(2, ctx.repeat)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- case 1 --------------------------------------------------------------------------------------
def case_push(b: Bench) -> list[c.Result]:
    ctx = b.ctx
    size = (128 << 20) if ctx.quick else BIG
    samples: dict[str, list[Sample]] = {"mops": [], "curl": [], "oras": [], "api": []}
    loads = [_load()]
    for i in range(1 + _rounds(ctx)):  # round 0 is a warm-up
        root = ctx.scratch / f"push-{i}"
        b.wipe()
        repo = b.repo_name("push-mops")
        b.project(root, repo)
        f = root / "model.bin"
        digest = c.fresh_file(f, size)
        c.sh([*b.mops, "add", f.name], cwd=root, env=b.env)
        order = list(samples)
        order = order[i % len(order):] + order[: i % len(order)]
        got: dict[str, Sample] = {}
        for tool in order:
            b.wipe()  # the blob is new to the registry for every tool
            if tool == "mops":
                got[tool] = timed([*b.mops, "push"], cwd=root, env=b.env)
                if not b.blob_present(repo, digest):
                    raise RuntimeError(f"mops push: {digest} is not in {repo}")
            elif tool == "curl":
                crepo = b.repo_name("push-curl")
                got[tool] = b.curl_upload(crepo, f, digest)
                if not b.blob_present(crepo, digest):
                    raise RuntimeError(f"curl -T: {digest} is not in {crepo}")
            elif tool == "api":
                arepo = b.repo_name("push-api")
                got[tool] = timed([sys.executable, "-c", API_PUSH, b.reg.host, arepo, str(f), digest, str(size)],
                                  env=b.env)
                if not b.blob_present(arepo, digest):
                    raise RuntimeError(f"push_blob: {digest} is not in {arepo}")
            else:
                got[tool] = timed([sys.executable, "-c", ORAS_PUSH, b.reg.host, b.repo_name("push-oras"), str(f)],
                                  env=b.env)
        ctx.log(f"push round {i}{' (warm-up)' if i == 0 else ''}: "
                + ", ".join(f"{t} {got[t].wall:.2f}s" for t in order) + f"; load {_load()}")
        if i:
            for t, s in got.items():
                samples[t].append(s)
        shutil.rmtree(root)
    b.wipe()
    loads.append(_load())
    w, rss, detail = c.summarise(samples, loads)
    r_curl = w["curl"] / w["mops"]  # throughput ratio
    r_oras = w["oras"] / w["mops"]
    what = f"push of a new {c.fmt_bytes(size)} blob"
    return [
        c.Result(SUITE, what, f"{c.fmt_s(w['mops'])}, {c.mib_s(size, w['mops'])}",
                 f"{c.fmt_s(w['curl'])}, {c.mib_s(size, w['curl'])}", "curl -T", r_curl,
                 "≥ 0.9× curl's throughput", r_curl >= 0.9, detail),
        c.Result(SUITE, f"{what}, vs oras-py", f"{c.mib_s(size, w['mops'])}",
                 f"{c.fmt_s(w['oras'])}, {c.mib_s(size, w['oras'])}", "oras-py push", r_oras,
                 "> 1× (faster)", r_oras > 1.0, {}),
        c.Result(SUITE, f"{what}: the transfer loop alone (push_blob)", f"{c.fmt_s(w['api'])}, {c.mib_s(size, w['api'])}",
                 f"{c.mib_s(size, w['curl'])}", "curl -T", w["curl"] / w["api"], "info", True, {}),
        c.Result(SUITE, "peak RSS of that push", c.fmt_bytes(rss["mops"]),
                 f"{c.fmt_bytes(rss['oras'])} oras-py, {c.fmt_bytes(rss['curl'])} curl", "max of runs", None,
                 "≤ 150 MB", 0 < rss["mops"] <= RSS_LIMIT, {"peak_rss": rss}),
    ]


# -- case 2 --------------------------------------------------------------------------------------
def case_pull(b: Bench) -> list[c.Result]:
    ctx = b.ctx
    size = (128 << 20) if ctx.quick else BIG
    samples: dict[str, list[Sample]] = {"mops pull": [], "mops fetch": [], "oras": [], "curl": []}
    loads = [_load()]
    for i in range(1 + _rounds(ctx)):
        b.wipe()
        src = ctx.scratch / f"pull-src-{i}"
        repo = b.repo_name("pull")
        b.project(src, repo)
        digest = c.fresh_file(src / "model.bin", size)
        c.sh([*b.mops, "add", "model.bin"], cwd=src, env=b.env)
        c.sh([*b.mops, "push"], cwd=src, env=b.env)
        shutil.rmtree(src)
        order = list(samples)
        order = order[i % len(order):] + order[: i % len(order)]
        got: dict[str, Sample] = {}
        for tool in order:
            dst = ctx.scratch / f"pull-dst-{i}"
            if tool == "curl":  # the download ceiling: the server and this disk, nothing checked
                dst.mkdir()
                out = dst / "model.bin"
                got[tool] = timed(["curl", "-sS", "--fail", "-L", "-o", str(out),
                                   f"{b.reg.url}/v2/{repo}/blobs/{digest}"], env=b.env)
            elif tool == "oras":
                got[tool] = timed([sys.executable, "-c", ORAS_PULL, b.reg.host, f"{repo}:latest", str(dst)], env=b.env)
                out = dst / "model.bin"
            else:
                b.project(dst, repo, registry_only=False)
                got[tool] = timed([*b.mops, tool.split()[1]], cwd=dst, env=b.env)
                out = dst / "model.bin" if tool == "mops pull" else None
            if out is not None and out.stat().st_size != size:
                raise RuntimeError(f"{tool}: {out} has {out.stat().st_size} bytes, not {size}")
            shutil.rmtree(dst)
        ctx.log(f"pull round {i}{' (warm-up)' if i == 0 else ''}: "
                + ", ".join(f"{t} {got[t].wall:.2f}s" for t in order) + f"; load {_load()}")
        if i:
            for t, s in got.items():
                samples[t].append(s)
    b.wipe()
    loads.append(_load())
    w, rss, detail = c.summarise(samples, loads)
    what = f"cold pull of {c.fmt_bytes(size)}, verified"
    r = w["oras"] / w["mops pull"]
    rf = w["oras"] / w["mops fetch"]
    rc = w["curl"] / w["mops pull"]
    return [
        c.Result(SUITE, what, f"{c.fmt_s(w['mops pull'])}, {c.mib_s(size, w['mops pull'])}",
                 f"{c.fmt_s(w['oras'])}, {c.mib_s(size, w['oras'])}", "oras-py pull, unverified", r,
                 "≥ 3× oras-py's throughput", r >= 3.0, detail),
        c.Result(SUITE, f"mops fetch of {c.fmt_bytes(size)} (object store only)",
                 f"{c.fmt_s(w['mops fetch'])}, {c.mib_s(size, w['mops fetch'])}",
                 f"{c.mib_s(size, w['oras'])}", "oras-py pull", rf, "info", True, {}),
        c.Result(SUITE, f"{what}, vs curl -o (download ceiling)", f"{c.mib_s(size, w['mops pull'])}",
                 f"{c.fmt_s(w['curl'])}, {c.mib_s(size, w['curl'])}", "curl -o, unverified", rc, "info", True, {}),
        c.Result(SUITE, "peak RSS of that pull", c.fmt_bytes(rss["mops pull"]),
                 f"{c.fmt_bytes(rss['oras'])} oras-py", "max of runs", None, "info", True, {"peak_rss": rss}),
    ]


# -- cases 3 and 4 -------------------------------------------------------------------------------
def many_files(root: Path, n: int, seed: int) -> None:
    """``n`` small files (50 B–2 KiB) in directories of 100."""
    import random

    rng = random.Random(seed)
    for i in range(n):
        d = root / "data" / f"d{i // 100:03d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(f"{seed} {i}\n".encode() + rng.randbytes(rng.randint(40, 2000)).hex().encode())


def breakdown(reqs: list[tuple[str, str, int]]) -> str:
    counts = collections.Counter(m for m, _p, _s in reqs)
    return ", ".join(f"{m} {counts[m]}" for m in ("HEAD", "GET", "POST", "PATCH", "PUT", "DELETE") if counts[m])


def case_noop(b: Bench) -> list[c.Result]:
    ctx = b.ctx
    n = 2_000 if ctx.quick else NOOP_FILES
    root = ctx.scratch / "noop"
    b.project(root, b.repo_name("noop"), registry_only=False)
    many_files(root, n, seed=1)
    c.sh([*b.mops, "add", "."], cwd=root, env=b.env)
    first = timed([*b.mops, "push"], cwd=root, env=b.env)
    runs: list[Sample] = []
    reqs: list[list] = []
    for i in range(2 + ctx.repeat):
        s, rq = b.requests_during(lambda: timed([*b.mops, "push"], cwd=root, env=b.env))
        if i >= 2:
            runs.append(s)
            reqs.append(rq)
    t = c.median([s.wall for s in runs])
    nreq = max(len(r) for r in reqs)
    shutil.rmtree(root)
    b.wipe()
    return [
        c.Result(SUITE, f"no-op push of a {n:,}-file bundle", c.fmt_s(t), "", "absolute", None, "≤ 1 s", t <= 1.0,
                 {"wall": [s.wall for s in runs], "cpu": [s.cpu for s in runs], "rss": [s.rss for s in runs],
                  "first_push_s": first.wall}),
        c.Result(SUITE, "registry requests of that push", f"{nreq} ({breakdown(reqs[0])})", "", "access log", None,
                 "≤ 3", nreq <= 3, {"requests": reqs[0]}),
    ]


def case_incremental(b: Bench) -> list[c.Result]:
    ctx = b.ctx
    root = ctx.scratch / "incr"
    b.project(root, b.repo_name("incr"), registry_only=False)
    many_files(root, INCR_FILES, seed=2)
    c.sh([*b.mops, "add", "."], cwd=root, env=b.env)
    c.sh([*b.mops, "push"], cwd=root, env=b.env)
    runs: list[Sample] = []
    shapes: list[dict] = []
    for i in range(max(3, ctx.repeat)):
        rel = f"data/d{(i * 37) % 10:03d}/f{(i * 37) % 10 * 100 + i:05d}.txt"
        (root / rel).write_bytes(f"changed {i} {time.time_ns()}\n".encode())
        c.sh([*b.mops, "add", rel], cwd=root, env=b.env)
        s, rq = b.requests_during(lambda: timed([*b.mops, "push"], cwd=root, env=b.env))
        runs.append(s)
        shapes.append({
            "total": len(rq),
            "blob_uploads": sum(1 for m, p, _s in rq if m == "PUT" and "/blobs/uploads/" in p),
            "upload_sessions": sum(1 for m, p, _s in rq if m == "POST" and "/blobs/uploads/" in p),
            "manifest_puts": sum(1 for m, p, _s in rq if m == "PUT" and "/manifests/" in p),
            "breakdown": breakdown(rq),
            "requests": rq,
        })
    ok = all(s["blob_uploads"] == 2 and s["upload_sessions"] == 2 and s["manifest_puts"] == 1 for s in shapes)
    totals = sorted({s["total"] for s in shapes})
    t = c.median([s.wall for s in runs])
    shutil.rmtree(root)
    b.wipe()
    first = shapes[0]
    return [
        c.Result(SUITE, f"push after changing 1 file of {INCR_FILES:,}",
                 f"{first['total']} requests ({first['breakdown']}): {first['blob_uploads']} blob uploads, "
                 f"{first['manifest_puts']} manifest", "", "access log", None,
                 "1 blob + config + manifest", ok,
                 {"shapes": shapes, "totals": totals, "wall": [s.wall for s in runs]}),
        c.Result(SUITE, "time of that push", c.fmt_s(t), "", "absolute", None, "info", True, {}),
    ]


CASES = {
    "push": case_push,
    "pull": case_pull,
    "noop": case_noop,
    "incremental": case_incremental,
}


def run(ctx: c.Context, only: list[str] | None = None) -> list[c.Result]:
    for tool in ("curl",):
        if shutil.which(tool) is None:
            raise RuntimeError(f"the registry suite needs {tool}")
    b = Bench(ctx)
    results: list[c.Result] = []
    try:
        ctx.log(f"{SUITE}: docker-registry on {b.reg.host}; load {_load()}")
        for name, fn in CASES.items():
            if only and name not in only:
                continue
            ctx.log(f"{SUITE}/{name} …")
            t = time.perf_counter()
            results += fn(b)
            ctx.log(f"{SUITE}/{name} done in {time.perf_counter() - t:.0f}s")
    finally:
        b.stop()
    return results

