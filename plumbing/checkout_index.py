"""mops checkout-index: write files from the index into the worktree, verified and atomically."""

from __future__ import annotations

import os

import click

from mops.errors import ConflictError, IntegrityError, NotFound
from mops.index import FLAG_WORKTREE, entry_from_stat


def checkout_index(repo, paths: list[str] | None = None, force: bool = False) -> list[str]:
    """Write the named (or, with None, all) index entries to the worktree; return what was written.

    A file already holding the staged content is left alone (its mtime stays).  A file with other
    content is replaced only with ``force``; otherwise nothing is written and exit is 12.
    """
    from mops import digest as dg
    from mops.checkout import BatchWriter, safe_target

    with repo.lock_index() as lock:
        index = repo.load_index()
        if paths is None:
            wanted = sorted(index.entries)
        else:
            wanted = []
            for p in paths:
                rel = repo.relpath(p)
                if rel not in index.entries:
                    raise NotFound(f"{rel}: not in the index")
                wanted.append(rel)
        todo, conflicts = [], []
        for rel in wanted:
            e = index.get(rel)
            full = repo.abspath(rel)
            if os.path.lexists(full):
                st = os.lstat(full)
                if e.stat_matches(st) and not index.is_racy(e):
                    continue
                if os.path.isfile(full) and not os.path.islink(full) and dg.of_file(full)[0] == e.digest:
                    index.entries[rel] = entry_from_stat(st, e.digest, e.storage, e.flags)
                    continue
                if not force:
                    conflicts.append(rel)
                    continue
            if not repo.objects.has(e.digest):
                if e.flags & FLAG_WORKTREE:
                    raise IntegrityError(f"{rel}: its content was never copied into the store and the worktree copy is gone")
                raise IntegrityError(f"{rel}: object {e.digest} is missing from the store", hint="run mops fetch")
            todo.append(rel)
        if conflicts:
            raise ConflictError("these files differ from the index and would be overwritten: " + ", ".join(conflicts),
                                hint="use -f to overwrite them")
        with BatchWriter() as batch:
            for rel in todo:
                e = index.get(rel)
                with repo.objects.open(e.digest) as src:
                    batch.add(safe_target(repo.root, rel), src, e.digest, e.size, e.exec_mode)
            for target, st in batch.commit().items():
                rel = target.relative_to(repo.root).as_posix()
                e = index.get(rel)
                index.entries[rel] = entry_from_stat(st, e.digest, e.storage, 0)
        lock.commit(index)
    return todo


@click.command("checkout-index")
@click.option("-a", "--all", "all_", is_flag=True, help="Check out every file in the index.")
@click.option("-f", "--force", is_flag=True, help="Overwrite files whose content differs.")
@click.option("-z", "nul", is_flag=True, help="End each printed path with NUL instead of a newline.")
@click.argument("paths", nargs=-1)
def cli(all_, force, nul, paths):
    """Write PATHS (or with -a every file) from the index into the worktree.

    Files already holding the staged content are not rewritten.

    \b
    Example:
      mops read-tree origin/latest && mops checkout-index -a
    """
    from mops.ui import open_repo

    if not all_ and not paths:
        raise click.UsageError("give PATHS or -a")
    for rel in checkout_index(open_repo(), None if all_ else list(paths), force=force):
        click.echo(rel, nl=not nul)
        if nul:
            click.echo("\0", nl=False)
