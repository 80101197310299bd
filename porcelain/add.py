"""mops add: stage files, directories and globs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import click

from mops.errors import NotFound, UsageError

GLOB_CHARS = set("*?[")


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    bytes_hashed: int = 0
    files: int = 0


def resolve_pathspecs(repo, index, specs: list[str], force: bool, all_: bool, cwd: str | None = None) -> tuple[list[str], list[str]]:
    """Turn user pathspecs into (files to stage, tracked files to unstage).

    Every spec is checked before anything is staged: one bad path stages nothing.
    """
    import fnmatch

    from mops.ignore import walk

    rules = repo.ignore
    cwd = cwd or os.getcwd()
    stage: dict[str, None] = {}
    gone: dict[str, None] = {}
    if not specs and all_:
        specs = [repo.root.as_posix()]
    resolved = [(s, repo.relpath(s, cwd)) for s in specs]  # raises before any work
    walked: list[str] | None = None
    for spec, rel in resolved:
        full = repo.abspath(rel) if rel else repo.root
        if any(c in GLOB_CHARS for c in spec) and not os.path.lexists(full):
            if walked is None:
                walked = [r for r, _de, _ig in walk(repo.root, None if force else rules)]
            hits = [r for r in walked if fnmatch.fnmatchcase(r, rel)]
            hits += _tracked_files(repo, index, set(hits), lambda r, rel=rel: fnmatch.fnmatchcase(r, rel))
            dead = [r for r in index.entries if fnmatch.fnmatchcase(r, rel) and not os.path.lexists(repo.abspath(r))]
            if not hits and not dead:
                raise NotFound(f"pathspec {spec!r} did not match any files")
            stage.update(dict.fromkeys(hits))
            gone.update(dict.fromkeys(dead))
            continue
        if os.path.islink(full):
            raise UsageError(f"{spec}: is a symbolic link; a bundle holds regular files only")
        if os.path.isdir(full):
            under = rel
            for r, _de, _ig in walk(repo.root, None if force else rules, under):
                stage[r] = None
            prefix = under + "/" if under else ""
            stage.update(dict.fromkeys(_tracked_files(repo, index, stage, lambda r, prefix=prefix: r.startswith(prefix))))
            if all_:
                gone.update(dict.fromkeys(r for r in index.entries if r.startswith(prefix) and not os.path.lexists(repo.abspath(r))))
            continue
        if os.path.isfile(full):
            if rel not in index.entries and not force and (rules.match(rel) or _parent_ignored(rules, rel)):
                raise UsageError(f"{spec}: is ignored by .modelopsignore or the built-in rules", hint=f"use mops add -f {spec} to stage it anyway")
            stage[rel] = None
            continue
        if rel in index.entries:  # a tracked file that was deleted: stage the deletion
            gone[rel] = None
            continue
        raise NotFound(f"pathspec {spec!r} did not match any files")
    return list(stage), list(gone)


def _tracked_files(repo, index, seen, wanted) -> list[str]:
    """Tracked files the walk skipped because they are ignored now: a tracked file stays tracked,
    so its changes are staged like any other (git's rule).  Only entries the walk did not yield
    are stat'ed, so the usual case costs a set lookup per entry."""
    import stat as statmod

    out = []
    for r in index.entries:
        if r in seen or not wanted(r):
            continue
        try:
            if statmod.S_ISREG(os.lstat(repo.abspath(r)).st_mode):
                out.append(r)
        except OSError:
            continue
    return out


def _parent_ignored(rules, rel: str) -> bool:
    parts = rel.split("/")
    return any(rules.match("/".join(parts[:i]), True) for i in range(1, len(parts)))


def add(repo, specs: list[str], force: bool = False, all_: bool = False, cwd: str | None = None, progress_factory=None) -> AddResult:
    from plumbing.update_index import IndexUpdate, stage_paths

    if "" in specs:  # as git: an empty spec (an unset shell variable) must not mean "everything"
        raise UsageError("empty string is not a valid pathspec; nothing was staged", hint="use . to mean every file")
    with repo.lock_index() as lock:
        index = repo.load_index()
        files, gone = resolve_pathspecs(repo, index, specs, force, all_, cwd)
        total = 0
        for rel in files:
            try:
                total += os.lstat(repo.abspath(rel)).st_size
            except OSError:
                pass
        upd = IndexUpdate()
        if progress_factory is not None:
            with progress_factory("Staging", total) as bar:
                stage_paths(repo, index, files, bar, upd)
        else:
            stage_paths(repo, index, files, None, upd)
        for rel in gone:
            del index.entries[rel]
            upd.removed.append(rel)
        if upd.added or upd.updated or upd.removed or files:
            lock.commit(index)
    return AddResult(upd.added, upd.updated, upd.removed, upd.unchanged, upd.bytes_hashed, len(files))


@click.command("add")
@click.option("-f", "--force", is_flag=True, help="Also stage ignored files.")
@click.option("-A", "--all", "all_", is_flag=True, help="Also stage deletions (with no PATHSPEC: the whole project).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("pathspecs", nargs=-1)
def cli(force, all_, as_json, pathspecs):
    """Stage files, directories or globs (relative to the current directory).

    A file at or above core.big_file_threshold is not copied: mops records its
    digest and re-reads (and re-verifies) it from the worktree at push.

    \b
    Example:
      mops add models/ data/*.csv
      mops add -A
    """
    from mops.ui import emit_json, human_size, open_repo, progress, summary

    if not pathspecs and not all_:
        raise click.UsageError("nothing specified, nothing added (try mops add . or mops add -A)")
    t0 = time.monotonic()
    repo = open_repo()
    res = add(repo, list(pathspecs), force=force, all_=all_, progress_factory=progress)
    if as_json:
        emit_json("add", {"added": res.added, "updated": res.updated, "removed": res.removed,
                          "unchanged": res.unchanged, "bytes_hashed": res.bytes_hashed})
        return
    summary(
        f"staged {len(res.added)} new, {len(res.updated)} changed, {len(res.removed)} deleted "
        f"({res.unchanged} unchanged; {human_size(res.bytes_hashed)} hashed) in {time.monotonic() - t0:.2f}s"
    )
