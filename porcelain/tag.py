"""mops tag: name a bundle locally, or add a tag on a remote."""

from __future__ import annotations

import click

from mops.errors import UsageError


def tag(repo, name: str, ref: str | None = None) -> tuple[str, str]:
    """Point tag NAME at REF (default HEAD).  A remote REF is tagged on its remote (no download).

    Returns (where, digest)."""
    from mops.reference import check_tag

    check_tag(name)
    if name == "HEAD":  # HEAD names the synced bundle; a tag of that name could never be read back
        raise UsageError("invalid tag 'HEAD': HEAD names the bundle this worktree was synced with")
    ref = ref or "HEAD"
    from mops.revs import resolve_local

    try:
        digest = resolve_local(repo, ref)
        local = repo.objects.has(digest)
    except Exception:  # noqa: BLE001 — not a local name; try it as a remote reference
        local = False
    if local:
        repo.refs.write(f"refs/tags/{name}", digest)
        return f"refs/tags/{name}", digest
    from mops.remotes import open_target, resolve_reference

    _n, r = resolve_reference(repo, ref)
    target = open_target(r.remote, repo)
    digest, data = target.resolve(r.selector)
    target.put_manifest(data, digest, name)
    return f"{r.remote.url}:{name}", digest


def list_tags(repo) -> list[tuple[str, str]]:
    return [(n.removeprefix("refs/tags/"), d) for n, d in repo.refs.all() if n.startswith("refs/tags/")]


@click.command("tag")
@click.option("-l", "--list", "list_", is_flag=True, help="List local tags.")
@click.option("-d", "--delete", is_flag=True, help="Delete local tag NAME.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("name", required=False)
@click.argument("ref", required=False)
def cli(list_, delete, as_json, name, ref):
    """Point tag NAME at REF (default HEAD, the last synced bundle), or list tags.

    A remote REF (REMOTE:TAG, REMOTE@DIGEST) is tagged on that remote, like
    `oras tag`; a local REF makes refs/tags/NAME.

    \b
    Example:
      mops tag v1
      mops tag stable origin:latest
      mops tag -l
    """
    from mops.ui import emit_json, open_repo, summary

    if "" in (name, ref):  # an unset shell variable must not silently mean the default
        raise UsageError("NAME or REF is empty: leave REF out for HEAD")
    repo = open_repo()
    if delete and name is None:
        raise UsageError("give the tag NAME to delete", hint="see the tags with mops tag -l")
    if list_ or name is None:
        tags = list_tags(repo)
        if as_json:
            emit_json("tag", {"tags": [{"name": n, "digest": d} for n, d in tags]})
        else:
            for n, d in tags:
                click.echo(f"{n}\t{d}")
        return
    if delete:
        from mops.errors import NotFound

        digest = repo.refs.read(f"refs/tags/{name}")
        if digest is None or not repo.refs.delete(f"refs/tags/{name}"):
            raise NotFound(f"no local tag {name!r}", hint="see the tags with mops tag -l")
        if as_json:
            emit_json("tag", {"deleted": f"refs/tags/{name}", "digest": digest})
        summary(f"deleted tag {name} (was {digest[:19]})")
        return
    if name is None:
        raise UsageError("give a tag NAME")
    where, digest = tag(repo, name, ref)
    if as_json:
        emit_json("tag", {"tag": where, "digest": digest})
        return
    summary(f"tagged {digest[:19]} as {where}")
