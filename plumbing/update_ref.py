"""mops update-ref: point a ref at a digest (or delete it)."""

from __future__ import annotations

import click

from mops import digest as dg
from mops.errors import NotFound


def update_ref(repo, name: str, digest: str | None, delete: bool = False) -> None:
    if name == "HEAD":  # HEAD is written by push and pull only; refs/tags/HEAD could never be read back
        from mops.errors import UsageError

        raise UsageError("update-ref cannot set HEAD: it names the bundle this worktree was synced with",
                         hint="name a ref: refs/tags/NAME or refs/remotes/REMOTE/TAG")
    if not name.startswith("refs/"):
        name = f"refs/tags/{name}"
    if delete:
        if not repo.refs.delete(name):
            raise NotFound(f"ref {name} does not exist")
        return
    d = dg.parse_digest(digest or "")
    from mops.refs import check_ref_path

    check_ref_path(name)
    if not repo.objects.has(d):  # as git update-ref: a ref to nothing would only fail fsck later
        raise NotFound(f"object {d} is not in the object store; {name} not updated",
                       hint="fetch the bundle first: mops fetch-bundle REMOTE REF")
    repo.refs.write(name, d)


@click.command("update-ref")
@click.option("-d", "delete", is_flag=True, help="Delete the ref instead.")
@click.argument("name")
@click.argument("digest", required=False)
def cli(delete, name, digest):
    """Point ref NAME (refs/tags/T, refs/remotes/R/T; a bare name means refs/tags/NAME) at DIGEST.

    \b
    Example:
      mops update-ref refs/tags/v1 $(mops rev-parse origin/latest)
      mops update-ref -d refs/tags/v1
    """
    from mops.ui import open_repo

    if not delete and not digest:
        raise click.UsageError("give DIGEST, or -d to delete")
    update_ref(open_repo(), name, digest, delete)
