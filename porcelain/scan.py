"""mops scan: an inventory of the worktree — every file, its state, size and storage destination."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click


@dataclass
class ScanEntry:
    path: str
    size: int
    state: str  # tracked | modified | untracked | ignored
    storage: str  # registry | external (by the current policy)
    rule: str


def scan(repo, ignored: bool = False) -> list[ScanEntry]:
    from mops.ignore import walk
    from mops.policy import StoragePolicy

    index = repo.load_index()
    policy = StoragePolicy.from_config(repo.config)
    out = []
    for rel, de, ign in walk(repo.root, repo.ignore, with_ignored=ignored):
        try:
            st = de.stat(follow_symlinks=False)
        except OSError:
            continue
        e = index.entries.get(rel)
        if e is not None:
            from mops.index import stat_matches

            state = "tracked" if stat_matches(e, st) else "changed?"
        else:
            state = "ignored" if ign else "untracked"
        dec = policy.decide(rel, st.st_size)
        out.append(ScanEntry(rel, st.st_size, state, dec.storage, dec.rule))
    out.sort(key=lambda s: s.path)
    return out


@click.command("scan")
@click.option("--ignored", is_flag=True, help="Also list ignored files.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cli(ignored, as_json):
    """List every file of the worktree with its state, size and where the storage
    policy would put it.  No file content is read.

    State is 'tracked', 'changed?' (stat data differs from the index),
    'untracked' or 'ignored'.

    \b
    Example:
      mops scan | sort -k2 -n | tail
    """
    from mops.ui import emit_json, human_size, open_repo, summary

    entries = scan(open_repo(), ignored=ignored)
    if as_json:
        emit_json("scan", {"files": [e.__dict__ for e in entries], "total_size": sum(e.size for e in entries)})
        return
    for e in entries:
        sys.stdout.write(f"{e.state:<9} {e.size:>12} {e.storage:<8} {e.path}\n")
    ext = sum(e.size for e in entries if e.storage == "external")
    summary(f"{len(entries)} files, {human_size(sum(e.size for e in entries))} ({human_size(ext)} external by policy)")
