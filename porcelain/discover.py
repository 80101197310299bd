"""mops discover: find model classes (and calibration targets) by parsing; no project code is run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import click


@dataclass
class DiscoverResult:
    root: str
    models: list[dict] = field(default_factory=list)
    targets: list[dict] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    files: int = 0
    saved: list[str] | None = None


def _root_and_rules():
    from mops.errors import NotAProject
    from mops.ignore import IgnoreRules
    from mops.repo import Repository

    try:
        repo = Repository.find()
        return repo.root, repo.ignore, repo
    except NotAProject:  # discovery needs no project: parse the current directory
        root = Path.cwd().resolve()
        return root, IgnoreRules(root), None


def discover_models(paths: list[str] | None = None, cwd: str | None = None) -> DiscoverResult:
    """Model classes and targets under ``paths`` (default: the whole project), with stable ids."""
    from mops.discover import discover, python_files
    from mops.errors import NotFound, UnsafePath

    root, rules, repo = _root_and_rules()
    cwd = cwd or os.getcwd()
    rels = []
    for p in paths or []:
        full = Path(os.path.normpath(os.path.join(cwd, p)))
        try:
            rel = full.relative_to(root).as_posix() if full != root else ""
        except ValueError:
            raise UnsafePath(f"{p}: outside the project at {root}") from None
        if not full.exists():
            raise NotFound(f"{p}: no such file or directory")
        rels.append("" if rel == "." else rel)
    scope = python_files(root, [r for r in rels if r] or None, rules) if rels and any(rels) else None
    d = discover(root, None, rules, scope=scope)
    res = DiscoverResult(str(root), files=len(d.modules) + len(d.errors))
    names: dict[str, int] = {}
    for c in d.models:
        names[c.name] = names.get(c.name, 0) + 1
    for c in d.models:
        mid = c.name if names[c.name] == 1 else f"{d.modules[c.file].module}.{c.name}"
        res.models.append({"id": mid, "class": c.name, "file": c.file, "line": c.line, "reason": c.reason, "outputs": c.outputs})
    for t in d.targets:
        res.targets.append({"id": t.name, "function": t.name, "file": t.file, "line": t.line,
                            "model_output": t.model_output, "data": t.data})
    res.errors = {f: e for f, e in d.errors.items() if scope is None or f in scope or f.startswith(tuple(r + "/" for r in rels if r))}
    return res


def save_models(res: DiscoverResult, chosen: list[dict]) -> list[str]:
    from mops.models import save_to_pyproject

    if not chosen and not os.path.exists(os.path.join(res.root, "pyproject.toml")):
        return []  # nothing to record: no pyproject.toml is created just to hold an empty table
    save_to_pyproject(res.root, chosen)
    return [m["id"] for m in chosen]


@click.command("discover")
@click.option("--save", is_flag=True, help="Write the models found to [tool.modelops-bundle.models] in pyproject.toml.")
@click.option("--interactive", is_flag=True, help="Ask for each model whether to save it (implies --save).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("paths", nargs=-1, type=click.Path())
def cli(save, interactive, as_json, paths):
    """Find model classes by parsing Python files; no project code is imported or run.

    A model class derives from BaseModel (directly, as cb.BaseModel, or through
    other classes of the project, across files), or defines both simulate() and
    parameters().  Functions decorated with @calibration_target are listed as
    targets.  A file that does not parse is reported and skipped.  With --save,
    the models are written to pyproject.toml, leaving the rest of the file as
    it was, byte for byte.

    \b
    Example:
      mops discover
      mops discover models/ --save
    """
    from mops.ui import emit_json, info, out, summary

    res = discover_models(list(paths))
    chosen = res.models
    if interactive:
        if as_json:
            raise click.UsageError("--interactive asks questions; it cannot be combined with --json")
        chosen = [m for m in res.models
                  if click.confirm(f"save {m['id']} ({m['class']} in {m['file']})?", default=True, err=True)]
    if save or interactive:
        res.saved = save_models(res, chosen)
    if as_json:
        emit_json("discover", {"root": res.root, "models": res.models, "targets": res.targets,
                               "errors": [{"file": f, "error": e} for f, e in sorted(res.errors.items())],
                               "saved": res.saved})
        return
    for m in res.models:
        outs = f"; outputs: {', '.join(m['outputs'])}" if m["outputs"] else ""
        out(f"model   {m['id']:<20} {m['file']}:{m['line']}  ({m['reason']}{outs})")
    for t in res.targets:
        out(f"target  {t['id']:<20} {t['file']}:{t['line']}  (model output: {t['model_output'] or '?'})")
    for f, e in sorted(res.errors.items()):
        info(f"warning: skipped {f}: {e}")
    tail = f"; saved {len(res.saved)} to pyproject.toml" if res.saved is not None else ""
    summary(f"found {len(res.models)} model(s) and {len(res.targets)} target(s) in {res.files} file(s), no code run{tail}")
