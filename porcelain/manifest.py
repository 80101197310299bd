"""mops manifest: write or check manifest.json, the human-readable provenance of what is staged."""

from __future__ import annotations

import json

import click

MANIFEST_FILE = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1


def build(repo) -> dict:
    """The manifest document for what is staged.

    ``bundle`` holds the config and manifest digests the staged content gets when pushed — computed
    without manifest.json itself, which cannot contain its own digest: push without staging
    manifest.json and the bundle gets exactly ``bundle.digest``.
    """
    from mops import digest as dg
    from mops.bundle import build_manifest
    from mops.index import Index
    from plumbing.write_tree import build_tree

    index = repo.load_index()
    index = Index({p: e for p, e in index.entries.items() if p != MANIFEST_FILE}, index.mtime_ns)
    tree = build_tree(repo, index)
    cfg = tree.to_bytes()
    cfg_digest = dg.of_bytes(cfg)
    man_digest = dg.of_bytes(build_manifest(tree, cfg_digest, len(cfg)))
    records = tree.extra  # models, targets and environment come from mops.models.tree_records
    doc = {
        "schemaVersion": MANIFEST_SCHEMA_VERSION,
        "bundle": {"digest": man_digest, "config": cfg_digest, "files": len(tree.files), "size": tree.total_size()},
        "models": records.get("models", []),
        "targets": records.get("targets", []),
        "files": [{"path": f.path, "sha256": f.digest, "size": f.size} for f in (tree.files[p] for p in sorted(tree.files))],
    }
    if "environment" in records:
        doc["environment"] = records["environment"]
    return doc


def render(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def manifest(repo, check: bool = False) -> dict:
    """Write manifest.json (or with ``check`` only compare); returns what happened."""
    from mops.errors import NotFound

    doc = build(repo)
    data = render(doc)
    path = repo.root / MANIFEST_FILE
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    if check:
        if old == data:
            return {"path": MANIFEST_FILE, "up_to_date": True, "written": False, "manifest": doc}
        if old is None:
            raise NotFound(f"{MANIFEST_FILE}: does not exist", hint="run mops manifest")
        try:
            prev = json.loads(old)
            stale = sorted(k for k in set(doc) | set(prev) if doc.get(k) != prev.get(k))
        except ValueError:
            stale = ["(not JSON)"]
        raise NotFound(f"{MANIFEST_FILE} is out of date ({', '.join(stale) or 'formatting'} changed)", hint="run mops manifest")
    if old != data:
        tmp = path.with_name("." + MANIFEST_FILE + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return {"path": MANIFEST_FILE, "up_to_date": True, "written": old != data, "manifest": doc}


@click.command("manifest")
@click.option("--check", is_flag=True, help="Only check; exit 1 when manifest.json is missing or out of date.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cli(check, as_json):
    """Write manifest.json at the project root: models, targets, files and digests.

    It describes what is staged: each file's sha256 and size, each model's
    and target's digests, the environment, and the digest the bundle gets when
    pushed (computed without manifest.json itself).  The file is not staged.

    \b
    Example:
      mops manifest && git add manifest.json
      mops manifest --check || echo "run mops manifest"
    """
    from mops.ui import emit_json, open_repo, summary

    repo = open_repo()
    res = manifest(repo, check=check)
    if as_json:
        emit_json("manifest", res)
        return
    doc = res["manifest"]
    what = "is up to date" if check or not res["written"] else "written"
    summary(f"{MANIFEST_FILE} {what}: {len(doc['models'])} model(s), {len(doc['targets'])} target(s), "
            f"{doc['bundle']['files']} file(s); bundle {doc['bundle']['digest']}")
