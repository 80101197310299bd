"""Run mops' benchmarks side by side with their peers; print (and optionally record) the ratios.

    python bench/run.py                      # every suite
    python bench/run.py local                # one suite
    python bench/run.py local:add,startup    # some cases of a suite
    python bench/run.py local --update-doc   # also rewrite that suite's table in docs/PERFORMANCE.md

Each suite is a module of this directory listed in ``SUITES`` (see bench/common.py for the contract).
Data is generated in a temporary directory outside the repository (``--scratch`` or $TMPDIR) and
removed afterwards.  Figures are medians of ``--repeat`` runs taken after warm-up runs, mops and its
peer alternating, because the machines this runs on are shared.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import common as c  # noqa: E402

# suite name → module.  Later suites (registry push/pull, S3, materialize) add a line here.
SUITES = {
    "local": "bench.local",
    "materialize": "bench.materialize",
    "registry": "bench.registry",
    "external": "bench.external",
}
DOC = REPO / "docs" / "PERFORMANCE.md"


def render(suite: str, results: list[c.Result], args: argparse.Namespace, elapsed: float) -> str:
    cmd = "python bench/run.py " + suite + (f" --repeat {args.repeat}" if args.repeat != 5 else "") + (" --quick" if args.quick else "")
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} with `{cmd}` ({elapsed:.0f} s), medians of {args.repeat} runs after warm-up,",
        "mops and its peer alternating.",
        "",
        f"Machine: {c.machine()}; {c.tool_version(['git', '--version'])}; "
        f"{c.tool_version(['sha256sum', '--version'])}.",
        "",
        "| case | mops | peer | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [r.row() for r in results]
    return "\n".join(lines) + "\n"


def update_doc(suite: str, block: str) -> None:
    begin, end = f"<!-- bench:{suite}:begin -->", f"<!-- bench:{suite}:end -->"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _old, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{block}{end}{tail}"
    else:
        text = text.rstrip("\n") + f"\n\n## {suite}\n\n{begin}\n{block}{end}\n"
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suites", nargs="*", help="SUITE or SUITE:case,case (default: every suite)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per command (median reported; default 5)")
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the harness (figures not comparable)")
    ap.add_argument("--scratch", help="directory for generated data (default: a new temp dir)")
    ap.add_argument("--update-doc", action="store_true", help="rewrite the suite's table in docs/PERFORMANCE.md")
    ap.add_argument("--list", action="store_true", help="list suites and cases")
    args = ap.parse_args(argv)

    mods = {name: importlib.import_module(m) for name, m in SUITES.items()}
    if args.list:
        for name, mod in mods.items():
            print(f"{name}: {mod.DESCRIPTION}\n  cases: {', '.join(getattr(mod, 'CASES', {}))}")
        return 0
    wanted: dict[str, list[str] | None] = {}
    for s in args.suites or list(SUITES):
        name, _, cases = s.partition(":")
        if name not in SUITES:
            ap.error(f"unknown suite {name!r} (have: {', '.join(SUITES)})")
        wanted[name] = cases.split(",") if cases else None

    # as an installed package has: bytecode compiled once, so no run pays for compiling the source
    import compileall

    for pkg in ("mops", "plumbing", "porcelain"):
        compileall.compile_dir(str(REPO / pkg), quiet=1)

    base = Path(args.scratch) if args.scratch else Path(tempfile.gettempdir())
    scratch = Path(tempfile.mkdtemp(prefix="mops-bench-", dir=base)).resolve()
    if scratch.is_relative_to(REPO):
        ap.error("the scratch directory must be outside the repository")
    failed = False
    try:
        for name, only in wanted.items():
            ctx = c.Context(scratch, args.repeat, args.quick)
            t0 = time.perf_counter()
            results = mods[name].run(ctx, only)
            elapsed = time.perf_counter() - t0
            block = render(name, results, args, elapsed)
            print(f"\n## {name}\n\n{block}")
            out = HERE / "results"
            out.mkdir(exist_ok=True)
            (out / f"{name}.json").write_text(json.dumps({"machine": c.machine(), "results": c.to_json(results)}, indent=2))
            if args.update_doc and only is None and not args.quick:
                update_doc(name, block)
            failed |= not all(r.met for r in results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
