"""mops register-target: add calibration targets to the bundle's model registry."""

from __future__ import annotations

import click


def register_target(repo, path: str, names=None, output=None, data=None, code=None, target_id=None, cwd=None) -> list[dict]:
    """Register the targets of ``path``; stages their files; returns their records (see mops.models)."""
    from mops.models import register_targets

    return register_targets(repo, path, names=list(names or []), output=output, data=list(data or []),
                            code=list(code or []), target_id=target_id, cwd=cwd)


@click.command("register-target")
@click.option("--target", "names", multiple=True, metavar="NAME", help="Register only function NAME (repeatable); default: every decorated target in PATH.")
@click.option("--output", metavar="O", help="The model output the target is compared with (overrides the decorator).")
@click.option("--data", multiple=True, metavar="P", help="The observation data (file, directory or glob; repeatable; overrides the decorator).")
@click.option("--code", multiple=True, metavar="P", help="Extra code the target needs beyond its project imports (repeatable).")
@click.option("--id", "target_id", metavar="ID", help="The target's id (default: the function name); one target only.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("path", type=click.Path())
def cli(names, output, data, code, target_id, as_json, path):
    """Register the calibration targets in PATH (a file or directory).

    A target is a module-level function decorated with
    @calibration_target(model_output="incidence", data="data/observed.csv")
    (any decorator of that name; mops.models provides one), or a function named
    with --target together with --output and --data.  The output must be one a
    registered model produces, else the command exits 2 listing those there are.
    Every registered file is staged.

    \b
    Example:
      mops register-target targets/incidence.py
      mops register-target fit.py --target weekly --output incidence --data data/obs.csv
    """
    from mops.ui import emit_json, open_repo, out, summary

    repo = open_repo()
    recs = register_target(repo, path, names, output, data, code, target_id)
    if as_json:
        emit_json("register-target", {"targets": recs})
        return
    for r in recs:
        out(f"{r['id']}\t{r.get('digest', '-')}")
    summary(f"registered {len(recs)} target(s): " + ", ".join(f"{r['id']} (vs {r['model_output']})" for r in recs))
