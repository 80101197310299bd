"""External files in push and pull: upload what the policy sends to an object store, download
(or write lazy pointers for) what a bundle keeps there.

The store layer (``mops.external``) moves and verifies bytes; this module decides which files go
where and keeps the worktree safe: every download is verified before it becomes visible.
"""

from __future__ import annotations

import os
from collections import defaultdict

from .remotes import concurrency


def _stores(repo, files):
    """Group external FileRecords by store URL: {url: (store, [records])}."""
    from .external import open_store, options_for, split_uri

    groups: dict[str, list] = defaultdict(list)
    for f in files:
        url, digest = split_uri(f.uri)
        if digest != f.digest:
            from .errors import UsageError

            raise UsageError(f"{f.path}: external uri names {digest}, but the file's digest is {f.digest}")
        groups[url].append(f)
    config = repo.config if repo is not None else None
    return {url: (open_store(url, options_for(config, url) if config is not None else {}), recs)
            for url, recs in groups.items()}


def upload_files(repo, tree, index, progress=None) -> int:
    """Upload the bundle's external files that their store lacks; returns how many moved.

    Content comes from the object store or, for big files staged without a copy, from the worktree,
    re-verified as it streams (exit 12 if it changed since it was staged)."""
    from .index import Entry
    from .worktree import open_staged

    ext = [f for f in tree.files.values() if f.storage == "external"]
    moved = 0
    for _url, (store, recs) in _stores(repo, ext).items():
        def one(f, store=store):
            raw = index.entries[f.path]
            entry = raw if type(raw) is Entry else Entry._make(raw)
            return store.upload(f.digest, f.size, lambda: open_staged(repo, f.path, entry), progress)

        unique = list({f.digest: f for f in recs}.values())  # one upload per object, never two racing
        moved += sum(1 for r in _run(one, unique, concurrency(repo)) if r)
    return moved


def _run(fn, items, n):
    from .copy import run_bounded

    return run_bounded(fn, items, n)


def materialize_external(repo, tree, paths, lazy: bool = False, root=None, progress=None, batch=None) -> dict[str, os.stat_result | None]:
    """Write the external files ``paths`` of ``tree`` under ``root`` (default: the project).

    Without ``lazy`` each file is downloaded to a temp file beside its destination and verified;
    with ``lazy`` a small pointer file stands in for it (docs/FORMAT.md).  With a ``batch``
    (checkout.BatchWriter) nothing becomes visible here: the verified temp files join the batch and
    appear with its commit, so a failure leaves the worktree as it was.  Without one each file is
    renamed into place as soon as it is verified.  Returns {path: stat, or None when batched}."""
    import io
    import uuid

    from .checkout import safe_target
    from .pointer import Pointer
    from .pointer import write as write_pointer

    root = root if root is not None else repo.root
    files = [tree.files[p] for p in sorted(paths)]
    out: dict[str, os.stat_result | None] = {}
    if lazy:
        for f in files:
            target = safe_target(root, f.path)
            ptr = Pointer(f.digest, f.size, f.uri, f.path)
            if batch is not None:
                data = ptr.to_bytes()
                from . import digest as dg

                batch.add(target, io.BytesIO(data), dg.of_bytes(data), len(data), f.mode)
                out[f.path] = None
            else:
                out[f.path] = write_pointer(target, ptr, mode=0o755 if f.mode == "0755" else 0o644)
        return out
    for _url, (store, recs) in _stores(repo, files).items():
        def one(f, store=store):
            target = safe_target(root, f.path)
            if batch is None:
                return f.path, store.download(f.digest, f.size, target, mode=f.mode, progress=progress)
            staged = target.with_name(f".{target.name}.mops-{uuid.uuid4().hex[:12]}")
            store.download(f.digest, f.size, staged, mode=f.mode, progress=progress)
            batch.adopt(str(staged), target, f.mode)
            return f.path, None

        for path, st in _run(one, recs, concurrency(repo)):
            out[path] = st
    return out
