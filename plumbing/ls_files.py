"""mops ls-files: files in the index (``-s`` with mode, digest, storage), modified or untracked."""

from __future__ import annotations

import sys

import click

from mops.index import STORAGE_NAMES


def ls_files(repo, stage: bool = False, modified: bool = False, others: bool = False) -> list[str]:
    index = repo.load_index()
    lines: list[str] = []
    if not modified and not others:
        for path, e in index.items():
            lines.append(f"{e.exec_mode} {e.digest} {STORAGE_NAMES[e.storage]}\t{path}" if stage else path)
        return lines
    from mops.scan import worktree_changes

    ch = worktree_changes(repo, index, untracked=others)
    if modified:
        lines += sorted(ch.modified + ch.deleted)
    if others:
        lines += ch.untracked
    return lines


@click.command("ls-files")
@click.option("-s", "--stage", is_flag=True, help="Show mode, digest and storage class of each entry.")
@click.option("-m", "--modified", is_flag=True, help="Show tracked files whose worktree copy differs (or is deleted).")
@click.option("-o", "--others", is_flag=True, help="Show untracked, not ignored files.")
@click.option("-z", "nul", is_flag=True, help="End each line with NUL instead of newline.")
def cli(stage, modified, others, nul):
    """List files in the index, or in the worktree.

    Paths are relative to the project root.

    \b
    Example:
      mops ls-files -s
      mops ls-files -o -z | xargs -0 mops add
    """
    from mops.ui import open_repo

    end = "\0" if nul else "\n"
    for line in ls_files(open_repo(), stage=stage, modified=modified, others=others):
        sys.stdout.write(line + end)
