"""What every benchmark suite shares: spawning commands, medians, rusage, /proc io, the result table.

A suite is a module of this package with a ``SUITE`` name, a one-line ``DESCRIPTION`` and a
``run(ctx: Context) -> list[Result]`` function; ``bench/run.py`` lists them in ``SUITES``.  A suite
builds its own data in ``ctx.scratch`` (a temporary directory outside the repository) and reports
one ``Result`` per case: mops' figure, the peer's figure (if any), their ratio and the target.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


def mops_argv() -> list[str]:
    """The installed ``mops`` console script of this venv (what a user runs), else ``python -m mops``."""
    script = BIN / "mops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mops"]


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    maxrss_kb: int  # peak resident set of the child (at least the spawner's own: see PROBE)
    rc: int


@dataclass
class Result:
    suite: str
    case: str
    mops: str  # the figure shown for mops, e.g. "0.412 s"
    peer: str  # the peer's figure, or "" when the target is absolute
    peer_name: str
    ratio: float | None  # mops / peer (None for absolute targets)
    target: str
    met: bool
    detail: dict = field(default_factory=dict)

    def row(self) -> str:
        ratio = f"{self.ratio:.2f}×" if self.ratio is not None else "–"
        peer = f"{self.peer} ({self.peer_name})" if self.peer else self.peer_name or "–"
        return f"| {self.case} | {self.mops} | {peer} | {ratio} | {self.target} | {'yes' if self.met else '**no**'} |"


class Context:
    def __init__(self, scratch: Path, repeat: int, quick: bool):
        self.scratch = scratch
        self.repeat = repeat
        self.quick = quick

    def log(self, msg: str) -> None:
        sys.stderr.write(f"[bench] {msg}\n")
        sys.stderr.flush()


def spawn(argv: list[str], cwd: str | os.PathLike | None = None, env: dict | None = None,
          stdout=subprocess.DEVNULL, check: bool = True) -> Run:
    """Run one command to completion; wall time, the child's own CPU time and peak RSS (wait4)."""
    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=errf)
        # wait4 reaps the child and gives its rusage alone (not that of every child so far)
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        p.returncode = rc
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
    if check and rc != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {rc}: {err.strip()[-2000:]}")
    return Run(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, rc)


def sh(argv: list[str], cwd=None, env=None, quiet: bool = True) -> None:
    """A setup step: must succeed; its output is thrown away."""
    r = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL if quiet else None,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {r.returncode}: {r.stderr.strip()[-2000:]}")


def compare(ctx: Context, a: list[str], b: list[str], cwd=None, warmup: int = 2, before=None,
            env: dict | None = None) -> tuple[list[Run], list[Run]]:
    """Run ``a`` and ``b`` alternately ``ctx.repeat`` times (after warm-up runs of each).

    Alternating spreads the noise of a shared machine over both sides evenly. ``before``, if given,
    is called before every run of ``a`` (to restore the state the command changes).
    """
    ra: list[Run] = []
    rb: list[Run] = []
    for i in range(warmup + ctx.repeat):
        if before is not None:
            before()
        x = spawn(a, cwd, env)
        y = spawn(b, cwd, env)
        if i >= warmup:
            ra.append(x)
            rb.append(y)
    return ra, rb


@dataclass
class Sample:
    """One timed run of a command: what the 1 GiB cases compare."""
    wall: float
    cpu: float
    rss: int | None  # bytes; None when GNU time is missing
    rc: int
    server_cpu: float = 0.0  # CPU seconds the server spent meanwhile, when asked for
    extra: dict = field(default_factory=dict)


def timed(argv: list[str], cwd=None, env=None, server_cpu=None) -> Sample:
    """Run a command to completion after flushing dirty pages (so no tool pays for another's):
    wall time, CPU and peak RSS, and with ``server_cpu`` (a function returning a server's CPU
    seconds) the CPU that server spent meanwhile.

    Peak RSS comes from GNU time (``%M`` of its own child, which forked from the small ``time``
    process); without it, from ``wait4`` (an upper bound: it includes this process's RSS).
    """
    os.sync()
    s0 = server_cpu() if server_cpu else 0.0
    gnu_time = Path("/usr/bin/time")
    if not gnu_time.exists():
        r = spawn(argv, cwd, env)
        cpu, rss = r.cpu, r.maxrss_kb * 1024
    else:
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            r = spawn([str(gnu_time), "-q", "-o", tf.name, "-f", "%U %S %M", *argv], cwd, env)
            user, system, rss_kb = tf.read().split()[-3:]
        cpu, rss = float(user) + float(system), int(rss_kb) * 1024
    return Sample(r.wall, cpu, rss, r.rc, (server_cpu() - s0) if server_cpu else 0.0)


def summarise(samples: dict[str, list[Sample]], loads: list[str]) -> tuple[dict, dict, dict]:
    """(median wall per tool, peak RSS per tool, every sample for the results file)."""
    w = {t: median([s.wall for s in v]) for t, v in samples.items()}
    rss = {t: max((s.rss or 0) for s in v) for t, v in samples.items()}
    detail = {t: {"wall": [s.wall for s in v], "cpu": [s.cpu for s in v], "rss": [s.rss for s in v],
                  "server_cpu": [s.server_cpu for s in v]} for t, v in samples.items()}
    detail["loadavg"] = loads
    return w, rss, detail


def median(xs) -> float:
    return statistics.median(xs)


def walls(runs: list[Run]) -> list[float]:
    return [r.wall for r in runs]


def fmt_s(t: float) -> str:
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def fresh_file(path: Path, size: int) -> str:
    """``size`` random bytes never seen before (so no registry or store already has them), written
    to ``path`` and synced; returns their digest."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(8 << 20, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    os.sync()
    return "sha256:" + h.hexdigest()


def mib_s(size: int, seconds: float) -> str:
    return f"{size / seconds / (1 << 20):.1f} MiB/s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


# A wrapper that runs mops' main() in this interpreter and reports, to the file named by its first
# argument, the process's /proc/self/io counters before and after the command and the modules it
# imported, and its peak RSS (VmHWM of its own address space: rusage's maxrss would include the
# benchmark's own RSS, inherited through vfork at exec).  ``rchar`` counts every byte returned by read(2) and friends, page cache or not, so the
# difference across main() is everything the command itself read.
PROBE = r"""
import json, sys
def io():
    with open("/proc/self/io") as f:
        return {k: int(v) for k, v in (l.split(":") for l in f)}
out = sys.argv[1]
before = io()
from mops.cli import main
rc = main(sys.argv[2:])
after = io()
hwm = 0
with open("/proc/self/status") as f:
    for l in f:
        if l.startswith("VmHWM:"):
            hwm = int(l.split()[1]) * 1024
sys.stdout.flush()
with open(out, "w") as f:
    json.dump({"rc": rc, "before": before, "after": after, "peak_rss": hwm, "modules": sorted(sys.modules)}, f)
sys.exit(rc)
"""


def probe(args: list[str], cwd, scratch: Path) -> dict:
    """Run ``mops ARGS`` under PROBE; return its io counters (``during`` = across main()) and modules."""
    out = scratch / "probe.json"
    spawn([sys.executable, "-c", PROBE, str(out), *args], cwd=cwd)
    data = json.loads(out.read_text())
    out.unlink()
    data["during"] = {k: data["after"][k] - data["before"].get(k, 0) for k in data["after"]}
    return data


def peak_rss_of(argv: list[str], cwd=None) -> int | None:
    """Peak RSS in bytes of a command that is not mops, via GNU time when it is installed."""
    if not Path("/usr/bin/time").exists():
        return None
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    try:
        return int(r.stderr.strip().splitlines()[-1]) * 1024
    except (ValueError, IndexError):
        return None


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    fs = ""
    try:
        fs = ", " + subprocess.run(["stat", "-f", "-c", "%T", str(Path(os.environ.get("TMPDIR", "/tmp")))],
                                  capture_output=True, text=True).stdout.strip() + " temp filesystem"
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}){mem}{fs}, "
            f"Python {platform.python_version()}")


def tool_version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return "not found"


def to_json(results: list[Result]) -> list[dict]:
    return [asdict(r) for r in results]
