"""mops rm: untrack files, and (without --cached) delete them from the worktree."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field

import click

from mops.errors import NotFound


@dataclass
class RmResult:
    removed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def rm(repo, specs: list[str], cached: bool = False, cwd: str | None = None) -> RmResult:
    """Untrack every index entry a spec names (a file, a directory prefix or a glob).

    A spec that matches nothing exits 1 and nothing changes.
    """
    if "" in specs:  # as git: an empty spec (an unset shell variable) must not mean "everything"
        from mops.errors import UsageError

        raise UsageError("empty string is not a valid pathspec; nothing was removed", hint="use . to mean every file")
    res = RmResult()
    with repo.lock_index() as lock:
        index = repo.load_index()
        chosen: dict[str, None] = {}
        for spec in specs:
            rel = repo.relpath(spec, cwd)
            if rel in index.entries:
                hits = [rel]
            else:
                prefix = rel + "/" if rel else ""
                hits = [p for p in index.entries if p.startswith(prefix)]
                if not hits and any(c in "*?[" for c in spec):
                    hits = [p for p in index.entries if fnmatch.fnmatchcase(p, rel)]
            if not hits:
                raise NotFound(f"pathspec {spec!r} did not match any tracked file", hint="see tracked files with mops ls-files")
            chosen.update(dict.fromkeys(sorted(hits)))
        for rel in chosen:
            del index.entries[rel]
            res.removed.append(rel)
        lock.commit(index)
    if not cached:
        for rel in res.removed:
            full = repo.abspath(rel)
            try:
                os.unlink(full)
                res.deleted.append(rel)
            except FileNotFoundError:
                continue
            # drop directories left empty, up to the root
            d = os.path.dirname(full)
            while d != str(repo.root):
                try:
                    os.rmdir(d)
                except OSError:
                    break
                d = os.path.dirname(d)
    return res


def run(specs, cached: bool, as_json: bool, command: str) -> None:
    from mops.ui import emit_json, globals_, open_repo, summary

    res = rm(open_repo(), list(specs), cached=cached)
    if as_json:
        emit_json(command, {"removed": res.removed, "deleted": res.deleted})
        return
    if not globals_().quiet:  # git rm's "rm 'path'" lines, which -q silences as git rm -q does
        for p in res.removed:
            click.echo(f"rm '{p}'")
    summary(f"untracked {len(res.removed)} file(s), deleted {len(res.deleted)} from the worktree")


@click.command("rm")
@click.option("--cached", is_flag=True, help="Only untrack; keep the files on disk.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("paths", nargs=-1, required=True)
def cli(cached, as_json, paths):
    """Untrack PATHS and delete them from the worktree (--cached keeps them).

    A directory untracks every tracked file under it.  A path that matches no
    tracked file exits 1 and changes nothing.

    \b
    Example:
      mops rm data/old.csv
      mops rm --cached -- 'outputs/*'
    """
    run(paths, cached, as_json, "rm")
