"""Finding a bundle by any name a user may give: a local digest or ref, or a remote reference."""

from __future__ import annotations

from .errors import NotAProject, NotFound


def find_repo_or_none():
    from .repo import Repository

    try:
        return Repository.find()
    except NotAProject:
        return None


def locate(repo, text: str) -> tuple[str, str, bytes]:
    """(canonical name, manifest digest, manifest bytes) for ``text``.

    Local names (digests in the object store, tags, remote-tracking refs, HEAD) win; anything else
    is resolved on its remote, once.
    """
    if repo is not None and text == "HEAD" and repo.refs.bundle_digest() is None:
        raise NotFound("HEAD names no bundle yet: nothing has been pushed or pulled", hint="run mops push or mops pull")
    if repo is not None:
        from .revs import resolve_local

        try:
            d = resolve_local(repo, text)
        except NotFound:
            d = None
        except Exception:  # malformed as a local name: try it as a remote reference
            d = None
        if d is not None and repo.objects.has(d):
            data = repo.objects.read(d)
            from .objects import kind_of_bytes

            if kind_of_bytes(data) == "manifest":
                return _local_name(repo, text, d), d, data
    from .remotes import open_target, resolve_reference

    _n, ref = resolve_reference(repo, text)
    target = open_target(ref.remote, repo)
    if repo is not None:
        from .sync import resolve_bundle

        d, data = resolve_bundle(repo, target, ref.selector)
    else:
        from . import digest as dg
        from .errors import IntegrityError

        d, data = target.resolve(ref.selector)
        if dg.of_bytes(data) != d:
            raise IntegrityError(f"manifest of {text} does not hash to {d}")
    return f"{ref.remote.url}@{d}", d, data


def _local_name(repo, text: str, digest: str) -> str:
    """The canonical remote name of a locally known bundle when a ref says where it came from."""
    names = [text] if text.startswith("refs/") else [f"refs/remotes/{text}", f"refs/tags/{text}"]
    if text == "HEAD":
        head = repo.refs.head_info()
        if head.get("remote"):
            from .reference import parse_remote

            return f"{parse_remote(head['remote'], str(repo.root)).url}@{digest}"
        names = [head["ref"]] if head.get("ref") else []
    for n in names:
        if n.startswith("refs/remotes/"):
            remote_name = n.split("/")[2]
            url = repo.config.section("remotes.").get(remote_name) or _synced_location(repo, n)
            if url:
                from .reference import parse_remote

                return f"{parse_remote(url, str(repo.root)).url}@{digest}"
    # a bare digest, or a local tag, names a bundle on the default remote (SPEC §4)
    origin = repo.config.section("remotes.").get("origin")
    if origin:
        from .reference import parse_remote

        return f"{parse_remote(origin, str(repo.root)).url}@{digest}"
    return digest


def _synced_location(repo, ref: str) -> str | None:
    """Where a remote-tracking ref of a remote given by location (no configured name) points:
    HEAD's remote when HEAD is that ref, else the location the reflog recorded for it."""
    head = repo.refs.head_info()
    if head.get("ref") == ref and head.get("remote"):
        return head["remote"]
    from .reference import split_reference

    for entry in reversed(repo.refs.read_log()):
        if entry["ref"] == ref and entry["action"] in ("push", "pull", "fetch"):
            try:
                return split_reference(entry["message"].split(" (", 1)[0])[0]
            except Exception:  # noqa: BLE001 — an unreadable line: no location
                return None
    return None


def tree_of(repo, target_or_none, manifest_bytes: bytes, digest: str):
    from .bundle import parse_manifest, parse_tree

    m = parse_manifest(manifest_bytes, f"manifest {digest}")
    if repo is not None and repo.objects.has(m.config.digest):
        return m, parse_tree(repo.objects.read(m.config.digest))
    raise NotFound(f"config {m.config.digest} of {digest} is not available locally")
