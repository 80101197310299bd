"""mops register-model: add model classes, their code and data to the bundle's model registry."""

from __future__ import annotations

import click


def register_model(repo, path: str, classes=None, exclude=None, data=None, code=None, outputs=None, model_id=None, cwd=None) -> list[dict]:
    """Register the models of ``path``; stages their files; returns their records (see mops.models)."""
    from mops.models import register_models

    return register_models(repo, path, classes=list(classes or []), exclude=list(exclude or []), data=list(data or []),
                           code=list(code or []), outputs=list(outputs or []), model_id=model_id, cwd=cwd)


@click.command("register-model")
@click.option("--class", "classes", multiple=True, metavar="C", help="Register only class C (repeatable); default: every model class in PATH.")
@click.option("--exclude", multiple=True, metavar="C", help="Skip class C (repeatable).")
@click.option("--data", multiple=True, metavar="P", help="A data file, directory or glob the model reads (repeatable).")
@click.option("--code", multiple=True, metavar="P", help="Extra code the model needs beyond its project imports (repeatable).")
@click.option("--output", "outputs", multiple=True, metavar="O", help="An output the model produces (repeatable).")
@click.option("--id", "model_id", metavar="ID", help="The model's id (default: the class name); one class only.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("path", type=click.Path())
def cli(classes, exclude, data, code, outputs, model_id, as_json, path):
    """Register the model classes in PATH (a file or directory) with the bundle.

    Each model's code dependencies -- the project modules it imports, and the
    packages' __init__.py files -- are found by parsing and added
    automatically.  Every registered file is staged.  The registry is kept in
    .modelops-bundle/models.yaml and travels inside each bundle's config.

    \b
    Example:
      mops register-model models/sir.py --data data/contacts.csv --output incidence
      mops register-model models/ --exclude AbstractSIR
    """
    from mops.ui import emit_json, open_repo, out, summary

    repo = open_repo()
    recs = register_model(repo, path, classes, exclude, data, code, outputs, model_id)
    if as_json:
        emit_json("register-model", {"models": recs})
        return
    for r in recs:
        out(f"{r['id']}\t{r.get('digest', '-')}")
    files = {c["path"] for r in recs for c in r["code"]} | {d["path"] for r in recs for d in r["data"]}
    summary(f"registered {len(recs)} model(s): {', '.join(r['id'] for r in recs)} ({len(files)} file(s) staged)")
