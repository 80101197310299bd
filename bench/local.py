"""Local workflow benchmarks (issue 2): status on many small files and on big files, add, startup.

Cases, each measured side by side with its peer in the same run:

1. ``mops status`` on 100,000 tracked, unchanged small files vs ``git status`` on the same tree,
   which git has added and committed too (mops' base is set to the staged tree, as after a push):
   target ≤ 1.5× git.
2. ``mops status`` with 2 GiB of tracked, unchanged large files: reads no file content (the bytes
   read during the command, from /proc/self/io) and takes ≤ 0.3 s.
3. ``mops add`` of a new 1 GiB file vs ``sha256sum`` of it: ≤ 1.25× its time, peak RSS ≤ 100 MB.
4. ``mops --version`` vs ``python -c pass`` in the same venv: ≤ 1.5×; ``status`` and ``add`` import
   none of requests, oras, fsspec, rich (yaml only where config.yaml must be read: add).
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import time
from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a plain script directory
    import common as c  # type: ignore[no-redef]

SUITE = "local"
DESCRIPTION = "status, add and startup on a generated tree (issue 2)"

SMALL_FILES = 100_000
BIG_TOTAL = 2 << 30
BIG_FILE = 256 << 20
ADD_SIZE = 1 << 30
HEAVY = ("requests", "oras", "fsspec", "rich", "urllib3", "boto3", "s3fs")  # never for status/add


def _env() -> dict:
    env = dict(os.environ)
    env.update(LC_ALL="C", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.invalid",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.invalid",
               GIT_CONFIG_NOSYSTEM="1", HOME=env.get("HOME", "/"))
    env.pop("GIT_DIR", None)
    env.pop("GIT_INDEX_FILE", None)
    return env


def _git(root: Path, *args: str) -> list[str]:
    return ["git", "-C", str(root), "-c", "core.fsmonitor=false", "-c", "gc.auto=0", "-c", "status.showUntrackedFiles=normal", *args]


def make_small_tree(root: Path, n: int) -> int:
    """``n`` small text files (60 B–2 KiB) spread over two levels of directories; returns total bytes."""
    rng = random.Random(2)
    per_dir = 100
    total = 0
    for i in range(n):
        if i % per_dir == 0:
            d = root / f"src{i // (per_dir * 50):02d}" / f"pkg{(i // per_dir) % 50:02d}"
            d.mkdir(parents=True, exist_ok=True)
        size = rng.randint(30, 1024)
        data = (f"# file {i}\n" + rng.randbytes(size).hex() + "\n").encode()
        fd = os.open(d / f"mod{i % per_dir:03d}.py", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
        total += len(data)
    return total


def make_big_file(path: Path, size: int, seed: int) -> None:
    """``size`` bytes of incompressible data, unique per file, written in 8 MiB blocks."""
    block = random.Random(seed).randbytes(8 << 20)
    with open(path, "wb") as f:
        written = 0
        k = 0
        while written < size:
            chunk = (k.to_bytes(8, "little") + block)[: min(len(block), size - written)]
            f.write(chunk)
            written += len(chunk)
            k += 1


def init_project(ctx: c.Context, root: Path, env: dict) -> None:
    c.sh([*c.mops_argv(), "init", str(root)], env=env)


def set_base(root: Path, env: dict) -> None:
    """Make the staged tree the sync base, as a push would: write-tree, a remote ref, HEAD."""
    import subprocess

    digest = subprocess.run([*c.mops_argv(), "write-tree"], cwd=root, env=env, capture_output=True,
                            text=True, check=True).stdout.strip()
    c.sh([*c.mops_argv(), "update-ref", "refs/remotes/origin/latest", digest], cwd=root, env=env)
    c.sh([sys.executable, "-c", "from mops.repo import Repository; "
          f"Repository('.').refs.set_head('refs/remotes/origin/latest', '{digest}')"], cwd=root, env=env)


def set_external_store(root: Path, store: Path, env: dict) -> None:
    """Big files go to an external store (a directory here), as the storage policy wants."""
    store.mkdir(exist_ok=True)
    c.sh([sys.executable, "-c", "import sys; from mops.repo import Repository; r = Repository('.'); "
          "r.config.set('storage.url', sys.argv[1]); r.config.save()", store.as_uri()], cwd=root, env=env)


# -- case 1 --------------------------------------------------------------------------------------
def case_status_small(ctx: c.Context, env: dict) -> list[c.Result]:
    n = 10_000 if ctx.quick else SMALL_FILES
    root = ctx.scratch / "small"
    root.mkdir()
    t = time.perf_counter()
    total = make_small_tree(root, n)
    ctx.log(f"status/small: wrote {n} files ({c.fmt_bytes(total)}) in {time.perf_counter() - t:.1f}s")
    init_project(ctx, root, env)
    t = time.perf_counter()
    c.sh(["git", "init", "-q", str(root)], env=env)
    c.sh(_git(root, "add", "-A"), env=env)
    git_add = time.perf_counter() - t
    t = time.perf_counter()
    c.sh([*c.mops_argv(), "add", "."], cwd=root, env=env)
    mops_add = time.perf_counter() - t
    ctx.log(f"status/small: git add {git_add:.1f}s, mops add {mops_add:.1f}s")

    out = []
    # (a) staged but not yet committed / pushed: both list every file as new
    a, b = c.compare(ctx, [*c.mops_argv(), "status"], _git(root, "status"), cwd=root, env=env)
    ma, mb = c.median(c.walls(a)), c.median(c.walls(b))
    out.append(c.Result(SUITE, f"status, {n:,} files staged (all new)", c.fmt_s(ma), c.fmt_s(mb), "git status",
                        ma / mb, "info", True, {"mops": c.walls(a), "git": c.walls(b)}))

    # (b) the main case: committed / pushed, nothing changed
    c.sh(_git(root, "commit", "-q", "-m", "bench"), env=env)
    set_base(root, env)
    a, b = c.compare(ctx, [*c.mops_argv(), "status"], _git(root, "status"), cwd=root, env=env)
    ma, mb = c.median(c.walls(a)), c.median(c.walls(b))
    out.append(c.Result(SUITE, f"status, {n:,} tracked unchanged files", c.fmt_s(ma), c.fmt_s(mb), "git status",
                        ma / mb, "≤ 1.5×", ma / mb <= 1.5,
                        {"mops": c.walls(a), "git": c.walls(b), "mops_cpu": [r.cpu for r in a],
                         "git_cpu": [r.cpu for r in b], "setup_git_add_s": git_add, "setup_mops_add_s": mops_add}))

    # (c) the first status after an edit, and (d) after staging it: the runs the caches help least
    files = sorted(root.glob("src*/pkg*/mod0*.py"))[:40]
    count = iter(range(10**6))

    def edit() -> Path:
        f = files[next(count) % len(files)]
        data = f.read_bytes()
        f.write_bytes(data[:-2] + (b"x" if data[-2:-1] != b"x" else b"y") + b"\n")  # same size
        return f

    a, b = c.compare(ctx, [*c.mops_argv(), "status"], _git(root, "status"), cwd=root, env=env, before=edit)
    ma, mb = c.median(c.walls(a)), c.median(c.walls(b))
    out.append(c.Result(SUITE, f"status, {n:,} files, first run after editing one", c.fmt_s(ma), c.fmt_s(mb),
                        "git status", ma / mb, "info", True, {"mops": c.walls(a), "git": c.walls(b)}))

    def edit_and_add() -> None:
        f = edit()
        c.sh([*c.mops_argv(), "add", str(f)], cwd=root, env=env)
        c.sh(_git(root, "add", str(f)), env=env)

    a, b = c.compare(ctx, [*c.mops_argv(), "status"], _git(root, "status"), cwd=root, env=env, before=edit_and_add)
    ma, mb = c.median(c.walls(a)), c.median(c.walls(b))
    out.append(c.Result(SUITE, f"status, {n:,} files, first run after adding an edit", c.fmt_s(ma), c.fmt_s(mb),
                        "git status", ma / mb, "info", True, {"mops": c.walls(a), "git": c.walls(b)}))
    shutil.rmtree(root)
    return out


# -- case 2 --------------------------------------------------------------------------------------
def case_status_big(ctx: c.Context, env: dict) -> list[c.Result]:
    total = (256 << 20) if ctx.quick else BIG_TOTAL
    each = min(BIG_FILE, total)
    root = ctx.scratch / "big"
    root.mkdir()
    init_project(ctx, root, env)
    for i in range(total // each):
        make_big_file(root / f"weights-{i:02d}.bin", each, seed=100 + i)
    (root / "train.py").write_text("print('train')\n")
    set_external_store(root, ctx.scratch / "store", env)
    c.sh([*c.mops_argv(), "add", "."], cwd=root, env=env)
    set_base(root, env)
    c.spawn([*c.mops_argv(), "status"], cwd=root, env=env)  # settle: racy entries are refreshed once
    runs = [c.spawn([*c.mops_argv(), "status"], cwd=root, env=env) for _ in range(2 + ctx.repeat)][2:]
    t = c.median(c.walls(runs))
    pr = c.probe(["status"], root, ctx.scratch)
    rchar = pr["during"]["rchar"]
    read_bytes = pr["after"]["read_bytes"]
    out = [
        c.Result(SUITE, f"status, {c.fmt_bytes(total)} in {total // each} tracked unchanged big files",
                 c.fmt_s(t), "", "absolute", None, "≤ 300 ms", t <= 0.3, {"mops": c.walls(runs)}),
        c.Result(SUITE, f"bytes read by that status (of {c.fmt_bytes(total)})",
                 f"{c.fmt_bytes(rchar)} rchar, {c.fmt_bytes(read_bytes)} read_bytes", "", "/proc/self/io", None,
                 "no file content", rchar < each // 4, {"during": pr["during"], "after": pr["after"]}),
    ]
    shutil.rmtree(root)
    return out


# -- case 3 --------------------------------------------------------------------------------------
def case_add(ctx: c.Context, env: dict) -> list[c.Result]:
    size = (256 << 20) if ctx.quick else ADD_SIZE
    root = ctx.scratch / "add"
    root.mkdir()
    init_project(ctx, root, env)
    f = root / "model.safetensors"
    make_big_file(f, size, seed=7)
    index = root / ".modelops-bundle" / "index"
    saved = index.read_bytes() if index.exists() else None

    def reset() -> None:  # the file is new to the index before every run
        if saved is None:
            index.unlink(missing_ok=True)
        else:
            index.write_bytes(saved)

    a, b = c.compare(ctx, [*c.mops_argv(), "add", f.name], ["sha256sum", f.name], cwd=root, env=env, before=reset)
    ma, mb = c.median(c.walls(a)), c.median(c.walls(b))
    reset()
    pr = c.probe(["add", f.name], root, ctx.scratch)
    rss = pr["peak_rss"]
    peer_rss = c.peak_rss_of(["sha256sum", f.name], cwd=root)
    out = [
        c.Result(SUITE, f"add of a new {c.fmt_bytes(size)} file", c.fmt_s(ma), c.fmt_s(mb), "sha256sum",
                 ma / mb, "≤ 1.25×", ma / mb <= 1.25, {"mops": c.walls(a), "sha256sum": c.walls(b),
                                                       "mops_cpu": [r.cpu for r in a], "sha256sum_cpu": [r.cpu for r in b]}),
        c.Result(SUITE, "peak RSS of that add", c.fmt_bytes(rss), c.fmt_bytes(peer_rss) if peer_rss else "",
                 "sha256sum", None, "≤ 100 MB", rss <= 100 * 1000 * 1000,
                 {"peak_rss": rss, "bytes_read": pr["during"]["rchar"]}),
    ]
    shutil.rmtree(root)
    return out


# -- case 4 --------------------------------------------------------------------------------------
def case_startup(ctx: c.Context, env: dict) -> list[c.Result]:
    root = ctx.scratch / "startup"
    root.mkdir()
    init_project(ctx, root, env)
    (root / "a.txt").write_text("a\n")
    old = ctx.repeat
    ctx.repeat = max(ctx.repeat, 20)  # cheap: take more samples
    try:
        a, b = c.compare(ctx, [*c.mops_argv(), "--version"], [sys.executable, "-c", "pass"], cwd=root, env=env, warmup=3)
    finally:
        ctx.repeat = old
    ma, mb = c.median(c.walls(a)), c.median(c.walls(b))
    loaded = {}
    for args in (["add", "a.txt"], ["status"]):
        mods = {m.split(".")[0] for m in c.probe(args, root, ctx.scratch)["modules"]}
        loaded[args[0]] = sorted(h for h in (*HEAVY, "yaml", "click", "pathspec", "zstandard") if h in mods)
    heavy = sorted({m for v in loaded.values() for m in v if m in HEAVY})
    shown = "; ".join(f"{k}: {', '.join(v) or 'nothing'}" for k, v in loaded.items())
    out = [
        c.Result(SUITE, "mops --version", c.fmt_s(ma), c.fmt_s(mb), "python -c pass", ma / mb, "≤ 1.5×", ma / mb <= 1.5,
                 {"mops": c.walls(a), "python": c.walls(b)}),
        c.Result(SUITE, "libraries imported by status and add", shown, "", "sys.modules",
                 None, "none of " + ", ".join(HEAVY[:4]), not heavy, loaded),
    ]
    shutil.rmtree(root)
    return out


CASES = {
    "status-small": case_status_small,
    "status-big": case_status_big,
    "add": case_add,
    "startup": case_startup,
}


def run(ctx: c.Context, only: list[str] | None = None) -> list[c.Result]:
    env = _env()
    results: list[c.Result] = []
    for name, fn in CASES.items():
        if only and name not in only:
            continue
        ctx.log(f"{SUITE}/{name} …")
        t = time.perf_counter()
        results += fn(ctx, env)
        ctx.log(f"{SUITE}/{name} done in {time.perf_counter() - t:.0f}s")
    return results
