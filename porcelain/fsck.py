"""mops fsck: every object's digest, the index, refs, and what trees and manifests reference."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import click

from mops.errors import IntegrityError, MopsError


@dataclass
class FsckReport:
    objects: int = 0
    problems: list[str] = field(default_factory=list)


def fsck(repo) -> FsckReport:
    from mops.bundle import parse_manifest, parse_tree
    from mops.index import FLAG_WORKTREE
    from mops.objects import kind_of_bytes

    rep = FsckReport()
    store = repo.objects
    for d in store:
        rep.objects += 1
        if not store.verify(d):
            rep.problems.append(f"corrupt object {d}: content does not hash to its name")
            continue
        if store.size(d) < (1 << 20):
            data = store.read(d, verify=False)
            kind = kind_of_bytes(data)
            try:
                if kind == "manifest":
                    # A manifest's config must be here (every command that stores a manifest
                    # stores its config); its layers need not be: they are fetched on demand, and
                    # big files live in the worktree, never in the store.
                    m = parse_manifest(data)
                    if not store.has(m.config.digest):
                        rep.problems.append(f"missing object {m.config.digest} (config of manifest {d})")
                elif kind == "tree":
                    parse_tree(data)
            except MopsError as e:
                rep.problems.append(f"bad {kind} {d}: {e.message}")
    try:
        index = repo.load_index()
        for path, e in index.items():
            if not store.has(e.digest) and not (e.flags & FLAG_WORKTREE and os.path.exists(repo.abspath(path))):
                rep.problems.append(f"missing object {e.digest} (staged as {path})")
    except MopsError as e:
        rep.problems.append(e.message)
    for name, d in repo.refs.all():
        if not store.has(d):
            rep.problems.append(f"missing object {d} (ref {name})")
    return rep


@click.command("fsck")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cli(as_json):
    """Check every object's digest, the index and the refs; exit 11 on any problem.

    \b
    Example:
      mops fsck && echo healthy
    """
    from mops.ui import emit_json, open_repo, summary

    rep = fsck(open_repo())
    if as_json:  # SPEC §5 lists fsck with the porcelain, which all take --json
        emit_json("fsck", {"objects": rep.objects, "problems": rep.problems, "ok": not rep.problems})
    else:
        for p in rep.problems:
            sys.stdout.write(p + "\n")
    if rep.problems:
        raise IntegrityError(f"fsck found {len(rep.problems)} problem(s) in {rep.objects} objects")
    summary(f"checked {rep.objects} objects: no problems")
