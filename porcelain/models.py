"""mops models: the registered models and targets, their files, digests and state."""

from __future__ import annotations

import click


def list_models(repo) -> dict:
    """``{"environment": …, "models": [...], "targets": [...]}``; each record has a ``state``:
    ready, stale (a file changed since registration) or broken (a file is missing)."""
    from mops.envdigest import environment
    from mops.models import describe, load_registry

    env = environment(repo.root)
    desc = describe(repo, load_registry(repo), env)
    return {"environment": env, **desc}


def _short(d: str | None) -> str:
    return d[: len("blake3:") + 16] if d else "-"


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cli(as_json):
    """List registered models and targets with their files, digests and state.

    A model is ready when its files are as registered, stale when one changed
    since registration (mops register-model again to accept the change), and
    broken when one is missing.  Digests are computed from the worktree; code
    is hashed from its syntax tree, so reformatting does not make it stale.

    \b
    Example:
      mops models
      mops models --json | jq '.models[] | {id, digest}'
    """
    from mops.ui import emit_json, open_repo, out, summary

    repo = open_repo()
    res = list_models(repo)
    if as_json:
        emit_json("models", res)
        return
    for kind in ("models", "targets"):
        for r in res[kind]:
            what = f"{r['class']} in {r['file']}" if kind == "models" else f"{r['function']} in {r['file']} vs output {r['model_output']}"
            out(f"{kind[:-1]:<7}{r['id']:<20} {r['state']:<7} {_short(r.get('digest'))}  {what}")
            for f in r["code"]:
                out(f"    code  {f['path']}  {_short(f['digest'])}")
            for f in r["data"]:
                out(f"    data  {f['path']}  {f['digest'][:len('sha256:') + 16]}")
            for p in r.get("missing", []):
                out(f"    missing  {p}")
            if kind == "models" and r["outputs"]:
                out(f"    outputs  {', '.join(r['outputs'])}")
    states = [r["state"] for k in ("models", "targets") for r in res[k]]
    if not states:
        summary("no models registered (find them with mops discover, then mops register-model PATH)")
        return
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("ready", "stale", "broken") if states.count(s))
    summary(f"{len(res['models'])} model(s), {len(res['targets'])} target(s): {counts}")
