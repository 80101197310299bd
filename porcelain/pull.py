"""mops pull: 3-way sync of a remote bundle into the worktree and index."""

from __future__ import annotations

import click


@click.command("pull")
@click.option("--dry-run", "-n", "dry_run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--overwrite", is_flag=True, help="Take the remote version where local work would otherwise be lost.")
@click.option("--restore-deleted", is_flag=True, help="Bring back files deleted locally that the bundle still has.")
@click.option("--lazy", is_flag=True, help="Write pointer files instead of external files' content.")
@click.option("--role", metavar="R", help="Only the files of role R.")
@click.option("--insecure", is_flag=True, help="Allow plain HTTP to a registry that is not on localhost.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("remote", required=False)
@click.argument("ref", required=False)
@click.argument("paths", nargs=-1)
def cli(dry_run, overwrite, restore_deleted, lazy, role, insecure, as_json, remote, ref, paths):
    """Sync bundle REF (default latest) from REMOTE (default origin) into the worktree.

    A single argument is a remote if one has that name, else a tag or digest
    on origin.  Remote additions and remote changes to files unchanged locally
    are applied; local-only work is kept.  A conflict, a remote deletion of a
    synced file, or an untracked file in the way exits 12 and changes nothing,
    unless --overwrite.  Files already right are not rewritten.

    \b
    Example:
      mops pull
      mops pull v2 --dry-run
      mops pull origin latest -- models/
    """
    from mops.sync import pull
    from mops.ui import emit_json, human_size, open_repo, out, summary

    if "" in (remote, ref):  # an unset shell variable must not silently mean the default
        from mops.errors import UsageError

        raise UsageError("REMOTE or REF is empty: leave it out for the default")
    if "" in paths:  # an unset shell variable must not mean "every file"
        from mops.errors import UsageError

        raise UsageError("empty string is not a valid path; nothing was pulled", hint="use -- . to mean every file")
    res = pull(open_repo(), remote, ref, dry_run=dry_run, overwrite=overwrite, restore_deleted=restore_deleted,
               lazy=lazy, role=role, paths=list(paths) or None, insecure=insecure)
    if as_json:
        emit_json("pull", {"digest": res.digest, "remote": res.remote, "tag": res.tag, "dry_run": res.dry_run,
                           "actions": res.actions, "kept_local": res.kept_local, "bytes_written": res.bytes_written,
                           "seconds": round(res.seconds, 3)})
        return
    from mops.ui import globals_

    changed = {p: a for p, a in res.actions.items() if a != "same"}
    if res.dry_run or not globals_().quiet:  # with -q, a dry run's list is the requested value; a pull's is not
        for p, a in sorted(changed.items()):
            out(f"{a} {p}" if res.dry_run else f"{a:<8}{p}")
    verb = "would change" if res.dry_run else "changed"
    summary(f"pulled {res.remote + ':' + res.tag if res.tag else res.remote + '@' + res.digest[:19]} {res.digest[:19]}: {verb} {len(changed)} file(s) "
            f"({human_size(res.bytes_written)}), kept {len(res.kept_local)} local change(s) in {res.seconds:.2f}s")
