"""mops show: a bundle's files, sizes, storage, roles and models."""

from __future__ import annotations

import sys

import click


def show(repo, text: str) -> dict:
    """Everything the bundle's manifest and config say, downloading no file content."""
    from mops.bundle import parse_manifest, parse_tree
    from mops.lookup import locate

    name, digest, mbytes = locate(repo, text)
    m = parse_manifest(mbytes, f"manifest {digest}")
    if repo is not None and repo.objects.has(m.config.digest):
        cfg = repo.objects.read(m.config.digest)
    else:
        from mops.remotes import open_target, resolve_reference

        _n, ref = resolve_reference(repo, text)
        with open_target(ref.remote, repo).fetch_blob(m.config.digest, m.config.size) as f:
            cfg = f.read(m.config.size + 1)
        from mops import digest as dg
        from mops.errors import IntegrityError

        if dg.of_bytes(cfg) != m.config.digest:
            raise IntegrityError(f"config of {text} does not hash to {m.config.digest}")
    tree = parse_tree(cfg)
    return {
        "ref": text,
        "resolved": name,
        "digest": digest,
        "config": m.config.digest,
        "annotations": m.raw.get("annotations") or {},
        "files": [tree.files[p].to_json() for p in sorted(tree.files)],
        "total_size": tree.total_size(),
        **{k: tree.extra[k] for k in ("roles", "models", "targets", "environment") if k in tree.extra},
    }


@click.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("ref")
def cli(as_json, ref):
    """Show bundle REF: its digest, files (size, storage), roles and models.

    Only the manifest and config are read; no file content is downloaded.

    \b
    Example:
      mops show v1
      mops show ghcr.io/acme/sir@sha256:0f1e... --json | jq .models
    """
    from mops.lookup import find_repo_or_none
    from mops.ui import emit_json, human_size

    info = show(find_repo_or_none(), ref)
    if as_json:
        emit_json("show", info)
        return
    w = sys.stdout.write
    w(f"bundle  {info['resolved']}\n")
    w(f"digest  {info['digest']}\n")
    w(f"files   {len(info['files'])} ({human_size(info['total_size'])})\n")
    for k, v in info["annotations"].items():
        w(f"annotation {k}={v}\n")
    if info.get("roles"):
        for r, pats in info["roles"].items():
            w(f"role    {r}: {' '.join(pats)}\n")
    for model in info.get("models") or []:
        if isinstance(model, dict):
            w(f"model   {model.get('id', '?')} {model.get('digest', '')}\n")
    for t in info.get("targets") or []:
        if isinstance(t, dict):
            w(f"target  {t.get('id', '?')} {t.get('digest', '')}\n")
    w("\n")
    for f in info["files"]:
        w(f"{f['mode']} {f['storage']:<8} {f['size']:>12} {f['path']}\n")
