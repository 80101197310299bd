"""mops gc: drop unreachable objects — in the project, in the shared cache, or on the remote."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import click


# -- the project's object store ---------------------------------------------------------------
@dataclass
class LocalGc:
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    bytes_removed: int = 0
    tmp_removed: int = 0


def reachable_local(repo, index) -> set[str]:
    """Everything the index, the refs (HEAD's included) and the reflog reach: manifests, their
    configs and layers, and the files of those configs."""
    from mops.errors import MopsError

    roots = {e.digest for _p, e in index.items()}
    roots |= {d for _n, d in repo.refs.all()}
    for entry in repo.refs.read_log():
        roots.add(entry["new"])
        if entry["old"]:
            roots.add(entry["old"])
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        try:
            if not repo.objects.has(d) or repo.objects.size(d) >= (1 << 20):
                continue
            todo.extend(_children(repo.objects.read(d, verify=False)))
        except MopsError:
            continue
    return seen


def _children(data: bytes) -> list[str]:
    from mops.bundle import parse_manifest, parse_tree
    from mops.errors import MopsError
    from mops.objects import kind_of_bytes

    try:
        kind = kind_of_bytes(data)
        if kind == "manifest":
            return [b.digest for b in parse_manifest(data).blobs()]
        if kind == "tree":
            return [f.digest for f in parse_tree(data).files.values()]
    except MopsError:
        pass
    return []


def gc_local(repo) -> LocalGc:
    """Remove objects nothing reaches.  Runs under the index lock, so no add races it."""
    res = LocalGc()
    with repo.lock_index():
        index = repo.load_index()
        keep = reachable_local(repo, index)
        for d in list(repo.objects):
            if d in keep:
                res.kept += 1
                continue
            try:
                res.bytes_removed += os.path.getsize(repo.objects.path_for(d))
            except OSError:
                pass
            repo.objects.delete(d)
            res.removed.append(d)
        tmp = repo.objects.tmpdir
        if tmp.is_dir():
            import time

            for name in os.listdir(tmp):  # temp files of runs that died (an hour gives live ones room)
                p = tmp / name
                try:
                    if time.time() - os.stat(p).st_mtime > 3600:
                        os.unlink(p)
                        res.tmp_removed += 1
                except OSError:
                    pass
    return res


# -- the remote ---------------------------------------------------------------------------------
@dataclass
class RemoteGc:
    remote: str
    tags: int = 0
    unreachable_blobs: list[str] = field(default_factory=list)
    unreachable_manifests: list[str] = field(default_factory=list)
    unreachable_external: list[str] = field(default_factory=list)
    external_store: str | None = None
    deleted: bool = False
    notes: list[str] = field(default_factory=list)


def gc_remote(repo, remote_text: str | None = None, prune_now: bool = False) -> RemoteGc:
    """What no tag of the remote reaches: registry blobs and manifests, and objects of the
    project's external store.  Listed only; deleted with ``prune_now``.

    An external store may hold the objects of bundles on every remote the project pushes to, so
    an object is kept when a tag of *any* configured remote reaches it; if some tag's bundle
    cannot be read, no external object is listed at all (never delete what might be in use)."""
    from mops.bundle import parse_manifest
    from mops.errors import MopsError
    from mops.remotes import configured, open_target, resolve_remote

    _name, remote = resolve_remote(repo, remote_text)
    target = open_target(remote, repo)
    res = RemoteGc(str(remote))
    reach: set[str] = set()
    tags = target.tags()
    res.tags = len(tags)
    manifests: dict[str, bytes] = {}
    for tag in tags:
        digest, mbytes = target.resolve(tag)
        reach.add(digest)
        manifests[tag] = mbytes
        try:
            m = parse_manifest(mbytes)
        except MopsError:
            continue
        reach.update(b.digest for b in m.blobs())
    if remote.kind == "oci":
        listed = set(target.manifests())
        for d in target.blobs():
            if d in reach:
                continue
            (res.unreachable_manifests if d in listed else res.unreachable_blobs).append(d)
    else:
        # the distribution API cannot list blobs: offer the manifests this project has seen
        # there that no tag reaches; the registry's own garbage-collect then frees their blobs
        seen = {e["new"] for e in repo.refs.read_log() if remote.url in e["message"] or e["ref"].startswith(f"refs/remotes/{_name}/")}
        seen |= {d for n, d in repo.refs.all() if n.startswith(f"refs/remotes/{_name}/")}
        res.unreachable_manifests = sorted(d for d in seen if d not in reach)
        res.notes.append("a registry cannot list its blobs: after deleting manifests, run the registry's garbage "
                         "collection (e.g. registry garbage-collect) to free their blobs")
    url = repo.config.get("storage.url")
    if url:
        from mops.external import open_store, options_for
        from mops.reference import parse_remote
        from mops.remotes import remote_base_dir

        targets = [(str(remote), target, manifests)]
        try:
            for n, u in sorted(configured(repo).items()):
                other = parse_remote(u, remote_base_dir(repo))
                if other != remote:
                    try:
                        targets.append((n, open_target(other, repo), None))
                    except MopsError as e:
                        raise _Unreadable(f"remote {n} cannot be read ({e})") from None
            external = set()
            for where, t, known in targets:
                try:
                    external |= external_reach(t, known)
                except MopsError as e:  # a remote that is down, or no longer there
                    raise _Unreadable(f"remote {where} cannot be read ({e})") from None
        except _Unreadable as e:
            res.notes.append(f"external objects not listed: {e} — an object it uses could be taken for garbage")
        else:
            store = open_store(url, options_for(repo.config, url))
            res.external_store = store.url
            res.unreachable_external = sorted(d for d in store.digests() if d not in external)
    res.unreachable_blobs.sort()
    res.unreachable_manifests.sort()
    if prune_now:
        _prune(repo, target, remote, res)
        res.deleted = True
    return res


class _Unreadable(Exception):
    pass


def external_reach(target, manifests: dict[str, bytes] | None = None) -> set[str]:
    """The digests of the external files of every tagged bundle of ``target`` (its tags'
    manifests when already read).  _Unreadable when a tag's bundle cannot be read."""
    from mops.bundle import is_bundle_manifest, parse_manifest, parse_tree
    from mops.errors import MopsError

    out: set[str] = set()
    if manifests is None:
        manifests = {}
        for tag in target.tags():
            manifests[tag] = target.resolve(tag)[1]
    for tag, mbytes in manifests.items():
        try:
            m = parse_manifest(mbytes)
            if not is_bundle_manifest(m):
                continue  # not a mops bundle: it records no external files
            with target.fetch_blob(m.config.digest, m.config.size) as f:
                tree = parse_tree(f.read())
        except MopsError as e:
            raise _Unreadable(f"the bundle tagged {tag} on {target.name} cannot be read ({e})") from None
        out.update(f.digest for f in tree.files.values() if f.storage == "external")
    return out


def _prune(repo, target, remote, res: RemoteGc) -> None:
    if remote.kind == "oci":
        gone = set(res.unreachable_manifests)
        with target._lock():  # the layout's index.json lock: no tag moves while we edit it
            idx = target._read_index()
            idx["manifests"] = [m for m in idx["manifests"] if m.get("digest") not in gone]
            target._write_index(idx)
        for d in res.unreachable_manifests + res.unreachable_blobs:
            target.delete_blob(d)
    else:
        if res.unreachable_manifests and not hasattr(target, "delete_manifest"):
            res.notes.append("this registry client cannot delete manifests")
        else:
            for d in res.unreachable_manifests:
                target.delete_manifest(d)
    if res.unreachable_external:
        from mops.external import open_store, options_for

        url = repo.config.get("storage.url")
        store = open_store(url, options_for(repo.config, url))
        for d in res.unreachable_external:
            store.delete(d)


# -- the command ----------------------------------------------------------------------------------
@click.command("gc")
@click.option("--cache", "cache", is_flag=True, help="Trim the shared cache to cache.max_size (least recently used first).")
@click.option("--remote", "remote", is_flag=True, help="List what no tag of origin reaches (registry and external store).")
@click.option("--prune-now", is_flag=True, help="With --remote: delete what it lists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cli(cache, remote, prune_now, as_json):
    """Drop unreachable objects.

    With no option: remove objects of the project's store that the index,
    the refs and the reflog do not reach.  --cache trims the shared cache
    ($MOPS_CACHE) to cache.max_size, least recently used first, and
    removes dead downloads.  --remote lists the registry blobs, manifests
    and external objects (in storage.url) no tag reaches; only --prune-now
    deletes them.  An external object is kept while a tag of any of the
    project's remotes reaches it; if one of them cannot be read, no
    external object is listed.

    \b
    Example:
      mops gc
      mops gc --cache
      mops gc --remote && mops gc --remote --prune-now
    """
    from mops.errors import UsageError
    from mops.lookup import find_repo_or_none
    from mops.ui import emit_json, human_size, open_repo, out, summary

    if prune_now and not remote:
        raise UsageError("--prune-now only applies with --remote")
    doc: dict = {}
    if cache:
        from mops.cache import Cache

        repo = find_repo_or_none()
        max_size = repo.config.get("cache.max_size") if repo is not None else None
        c = Cache.open(repo)
        r = c.trim(max_size)
        doc["cache"] = {"path": str(c.root), "max_size": max_size, "size_before": r.size_before, "size_after": r.size_after,
                        "evicted": r.evicted, "tmp_removed": r.tmp_removed, "markers_removed": r.markers_removed}
        if not as_json:
            limit = human_size(max_size) if max_size is not None else "no limit (set cache.max_size)"
            summary(f"cache {c.root}: {human_size(r.size_before)} → {human_size(r.size_after)} ({limit}); "
                    f"evicted {len(r.evicted)} item(s), removed {r.tmp_removed} dead download(s)")
    if remote:
        rg = gc_remote(open_repo(), None, prune_now)
        doc["remote"] = {"remote": rg.remote, "tags": rg.tags, "blobs": rg.unreachable_blobs, "manifests": rg.unreachable_manifests,
                         "external": rg.unreachable_external, "external_store": rg.external_store, "deleted": rg.deleted,
                         "notes": rg.notes}
        if not as_json:
            verb = "deleted" if rg.deleted else "would delete"
            for d in rg.unreachable_manifests:
                out(f"{verb} manifest {d}")
            for d in rg.unreachable_blobs:
                out(f"{verb} blob {d}")
            from mops.external import object_key

            for d in rg.unreachable_external:
                out(f"{verb} external {d} {rg.external_store}/{object_key(d)}")
            for n in rg.notes:
                summary(f"note: {n}")
            n = len(rg.unreachable_blobs) + len(rg.unreachable_manifests) + len(rg.unreachable_external)
            summary(f"{rg.remote}: {n} unreachable item(s) from {rg.tags} tag(s)"
                    + ("" if rg.deleted else "; nothing deleted (use --prune-now)"))
    if not cache and not remote:
        lg = gc_local(open_repo())
        doc["local"] = {"removed": lg.removed, "kept": lg.kept, "bytes_removed": lg.bytes_removed, "tmp_removed": lg.tmp_removed}
        if not as_json:
            summary(f"removed {len(lg.removed)} unreachable object(s) ({human_size(lg.bytes_removed)}), kept {lg.kept}")
    if as_json:
        emit_json("gc", doc)
