"""Push, fetch and pull: the copy algorithm plus the bookkeeping that makes them git-like.

- push publishes exactly what is staged and refuses to move a tag someone else moved;
- fetch brings a bundle's manifest, config and blobs into the object store;
- pull is a 3-way sync between the worktree/index, the remote bundle and the sync base.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field

from . import digest as dg
from .bundle import EMPTY_DIGEST, Descriptor, Tree, build_manifest, is_bundle_manifest, parse_manifest, parse_tree
from .copy import CopyStats, LocalTarget, copy_blobs, missing_blobs, target_opener
from .errors import ConflictError, IntegrityError, NotFound, UsageError
from .index import FLAG_POINTER, FLAG_WORKTREE
from .reference import DEFAULT_TAG, check_tag
from .remotes import concurrency, open_target, resolve_reference, resolve_remote


# -- manifests -------------------------------------------------------------------------------
def write_manifest(repo, tree_digest: str, annotations: dict[str, str] | None = None) -> str:
    data = repo.objects.read(tree_digest)
    tree = parse_tree(data, f"tree {tree_digest}")
    return repo.objects.put_bytes(build_manifest(tree, tree_digest, len(data), annotations))


def load_bundle(repo, manifest_digest: str) -> tuple[bytes, object, Tree]:
    mbytes = repo.objects.read(manifest_digest)
    m = parse_manifest(mbytes, f"manifest {manifest_digest}")
    if not is_bundle_manifest(m):
        raise UsageError(f"{manifest_digest} is not a mops bundle (config media type {m.config.media_type!r})")
    tree = parse_tree(repo.objects.read(m.config.digest), f"bundle config {m.config.digest}")
    return mbytes, m, tree


# -- sources -----------------------------------------------------------------------------------
def project_opener(repo, index):
    """Open a blob of the bundle being pushed: from the store, else the worktree (re-verified)."""
    from .worktree import VerifyingReader

    by_digest: dict[bytes, tuple[str, tuple]] = {}
    for p, e in index.entries.items():
        by_digest.setdefault(e[6], (p, e))

    def open_(d: Descriptor):
        if d.digest == EMPTY_DIGEST:
            return io.BytesIO(b"{}")
        if repo.objects.has(d.digest):
            return repo.objects.open(d.digest)
        pe = by_digest.get(bytes.fromhex(dg.hex_of(d.digest)))
        if pe is None:
            raise IntegrityError(f"blob {d.digest} ({d.title or 'no path'}) is neither in the object store nor staged")
        rel, e = pe
        try:
            f = open(repo.abspath(rel), "rb")
        except FileNotFoundError:
            raise ConflictError(f"{rel}: modified since it was staged; run mops add {rel}") from None
        reader = VerifyingReader(f, d.digest, e[1], rel)
        reader.verifies_digest = d.digest  # raises ConflictError at EOF: the registry client need not hash again
        return reader

    return open_


def _progress_factory():
    try:
        from .ui import progress
    except ImportError:  # pragma: no cover
        return None
    return progress


# -- push --------------------------------------------------------------------------------------
@dataclass
class PushResult:
    digest: str
    remote: str
    tag: str
    up_to_date: bool = False
    dry_run: bool = False
    uploaded: list[Descriptor] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    files: int = 0
    bytes_uploaded: int = 0
    external_uploaded: int = 0
    seconds: float = 0.0


def mount_sources(repo, target) -> dict[str, str]:
    """Blobs known to be in other repositories of the same registry (from their remote-tracking
    refs), so a push can mount them instead of uploading them again."""
    host, own = getattr(target, "host", None), getattr(target, "repository", None)
    if host is None:
        return {}
    from .reference import parse_remote

    out: dict[str, str] = {}
    for name, url in repo.config.section("remotes.").items():
        try:
            r = parse_remote(url, str(repo.root))
        except UsageError:
            continue
        if r.kind != "registry" or r.location != host or r.repository == own:
            continue
        for ref, digest in repo.refs.all():
            if not ref.startswith(f"refs/remotes/{name}/") or not repo.objects.has(digest):
                continue
            try:
                for d in parse_manifest(repo.objects.read(digest)).blobs():
                    out.setdefault(d.digest, r.repository)
            except UsageError:
                continue
    return out


def send_bundle(repo, target, manifest_digest: str, tag: str | None, index=None, known: set[str] | None = None,
                progress=None) -> CopyStats:
    """Upload what ``target`` lacks of the bundle, then the manifest, then tag it."""
    mbytes, m, tree = load_bundle(repo, manifest_digest)
    index = index if index is not None else repo.load_index()
    external = _upload_external(repo, tree, index)
    stats = copy_blobs(project_opener(repo, index), target, m.blobs(), known=known, concurrency=concurrency(repo),
                       progress=progress, mount_from=mount_sources(repo, target))
    stats.external_uploaded = external
    target.put_manifest(mbytes, manifest_digest, tag)
    return stats


def _upload_external(repo, tree: Tree, index) -> int:
    ext = [f for f in tree.files.values() if f.storage == "external"]
    if not ext:
        return 0
    from .external_sync import upload_files

    return upload_files(repo, tree, index)


def push(repo, remote_text: str | None = None, tag: str | None = None, dry_run: bool = False, force: bool = False,
         annotations: dict[str, str] | None = None, insecure: bool = False) -> PushResult:
    from plumbing.write_tree import write_tree

    t0 = time.monotonic()
    if remote_text is not None:
        # `push oci:./bundles:v1` / `push host/repo:v1` / `push origin:v1`: the tag may ride on the remote
        from .reference import split_reference

        left, ref_tag, ref_digest = split_reference(remote_text)
        if ref_digest is not None:
            raise UsageError(f"cannot push to a digest ({remote_text}): name a tag with --tag")
        if ref_tag is not None:
            if tag is not None and tag != ref_tag:
                raise UsageError(f"two tags given: {ref_tag!r} in {remote_text!r} and --tag {tag!r}")
            remote_text, tag = left, ref_tag
    tag = check_tag(tag or DEFAULT_TAG)
    name, remote = resolve_remote(repo, remote_text)
    index = repo.load_index()
    tree_digest = write_tree(repo, index)
    digest = write_manifest(repo, tree_digest, annotations)
    _mbytes, m, tree = load_bundle(repo, digest)
    res = PushResult(digest, str(remote), tag, files=len(tree.files), dry_run=dry_run)
    target = open_target(remote, repo, insecure or None)
    tracking = f"refs/remotes/{name}/{tag}"
    known = repo.refs.read(tracking)
    try:
        remote_digest, remote_bytes = target.resolve(tag)
    except NotFound:
        remote_digest, remote_bytes = None, None
    if remote_digest == digest:
        res.up_to_date = True
        if not dry_run:
            _record(repo, name, tag, digest, "push", f"{remote}:{tag} (up to date)", remote, old=known,
                    insecure=insecure)
        res.seconds = time.monotonic() - t0
        return res
    # What the remote tag may hold for this push to lose nothing: the bundle the worktree was last
    # synced with when that sync was with this very tag, else what was last seen there.  (A fetch
    # moves refs/remotes but not the worktree's base, so "fetched but not pulled" is refused too.)
    head = repo.refs.head_info()
    expected = head.get("bundle") if head.get("ref") == tracking else repo.refs.last_synced(tracking)
    if (head.get("ref") == tracking and head.get("base") != head.get("bundle") and remote_digest == expected
            and remote_digest is not None and not force):
        raise ConflictError(
            f"the last pull of {remote}:{tag} was limited to some paths or a role: pushing now would revert "
            "the remote changes that were left out",
            hint=f"run mops pull {remote}:{tag} (every role) first, or mops push --force to publish exactly what is staged",
        )
    if remote_digest is not None and remote_digest != expected and not force:
        raise ConflictError(
            f"{remote}:{tag} points to {remote_digest}, but this worktree was last synced with "
            f"{expected or 'nothing'} there: pushing would replace changes you have not pulled",
            hint=f"run mops pull {remote}:{tag} to merge them first, or mops push --force to replace them",
        )
    # blobs of the bundle the tag held at the last sync are known to be there: no request needed
    known_blobs: set[str] = set()
    if remote_digest is not None and remote_digest == known and known and repo.objects.has(known):
        try:
            km = parse_manifest(repo.objects.read(known))
            known_blobs = {d.digest for d in km.blobs()}
        except UsageError:
            known_blobs = set()
    if dry_run:
        res.uploaded = missing_blobs(target, m.blobs(), known_blobs, concurrency(repo))
        res.bytes_uploaded = sum(d.size for d in res.uploaded)
        if remote_bytes is not None:
            old_tree = _remote_tree_from_manifest(repo, target, remote_bytes)
            res.removed = sorted(set(old_tree.files) - set(tree.files))
        res.seconds = time.monotonic() - t0
        return res
    if remote_bytes is not None:
        try:
            old_tree = _remote_tree_from_manifest(repo, target, remote_bytes)
            res.removed = sorted(set(old_tree.files) - set(tree.files))
        except (NotFound, UsageError):
            pass
    total = sum(d.size for d in m.blobs())
    pf = _progress_factory()
    if pf is not None:
        with pf(f"Pushing {tag}", total) as bar:
            stats = send_bundle(repo, target, digest, tag, index, known_blobs, bar)
    else:
        stats = send_bundle(repo, target, digest, tag, index, known_blobs)
    res.uploaded = stats.copied
    res.bytes_uploaded = stats.bytes_copied
    res.external_uploaded = stats.external_uploaded
    _record(repo, name, tag, digest, "push", f"{remote}:{tag}", remote, old=known, insecure=insecure)
    res.seconds = time.monotonic() - t0
    return res


def _record(repo, name: str, tag: str | None, digest: str, action: str, message: str, remote,
            old: str | None = None, base: str | None = None, insecure: bool = False) -> None:
    """Remember a sync: refs/remotes/NAME/TAG = what the remote holds, HEAD = the worktree's base
    (``base``, which a partial pull makes differ from ``digest``)."""
    tracking = f"refs/remotes/{name}/{tag}" if tag else None
    if tracking:
        repo.refs.write(tracking, digest)
    # --insecure is remembered with the remote, so status asks it the way the sync did
    repo.refs.set_head(tracking, base or digest, remote.url, bundle=digest,
                       insecure=insecure and remote.kind != "oci")
    repo.refs.log(action, tracking or "HEAD", old, digest, message)


def _remote_tree_from_manifest(repo, target, mbytes: bytes) -> Tree:
    m = parse_manifest(mbytes)
    cfg = m.config.digest
    if not repo.objects.has(cfg):
        with target.fetch_blob(cfg, m.config.size) as f:
            repo.objects.put_stream(f, expected=cfg, expected_size=m.config.size)
    return parse_tree(repo.objects.read(cfg), f"bundle config {cfg}")


# -- fetch -------------------------------------------------------------------------------------
@dataclass
class FetchResult:
    digest: str
    remote: str
    name: str
    tag: str | None
    tree: Tree
    fetched: list[Descriptor] = field(default_factory=list)
    bytes_fetched: int = 0
    seconds: float = 0.0


def resolve_bundle(repo, target, selector: str) -> tuple[str, bytes]:
    """Resolve a tag or digest on ``target`` once; store manifest and config locally."""
    digest, mbytes = target.resolve(selector)
    if dg.of_bytes(mbytes) != digest:
        raise IntegrityError(f"manifest from {target.name} does not hash to {digest}")
    m = parse_manifest(mbytes, f"manifest {digest}")
    if not is_bundle_manifest(m):
        raise UsageError(f"{target.name}@{digest} is not a mops bundle (config media type {m.config.media_type!r})")
    repo.objects.put_bytes(mbytes)
    _remote_tree_from_manifest(repo, target, mbytes)
    return digest, mbytes


def fetch_into_store(repo, target, digest: str, files=None, progress=None) -> CopyStats:
    """Download the registry blobs of the bundle (or only those of ``files``, FileRecords) into the
    object store.  Blobs are chosen by digest, never by their title annotation."""
    _mbytes, m, tree = load_bundle(repo, digest)
    wanted = None if files is None else {f.digest for f in files}
    layers = [d for d in m.layers if d.digest != EMPTY_DIGEST and (wanted is None or d.digest in wanted)]
    with repo.objects.batch():
        return copy_blobs(target_opener(target), LocalTarget(repo.objects), layers, concurrency=concurrency(repo),
                          progress=progress)


def _split_remote_and_selector(repo, remote_text: str | None, selector: str | None) -> tuple[str | None, str | None]:
    """``pull X``: X is a remote if one has that name or X names a remote or reference (``oci:…``,
    ``host/repo…``, ``NAME:TAG``, ``…@sha256:…``), else a tag or digest on origin."""
    if remote_text is not None and selector is None:
        names = repo.config.section("remotes.")
        looks_remote = (remote_text in names or remote_text.startswith("oci:") or "/" in remote_text
                        or "@" in remote_text or (":" in remote_text and not dg.is_digest(remote_text)))
        if not looks_remote:
            return None, remote_text
    return remote_text, selector


def _target_for(repo, remote_text: str | None, selector: str | None, insecure: bool = False):
    """(name, remote, target, selector, tag) for fetch/pull, understanding REMOTE:TAG forms too."""
    if remote_text is not None and selector is None and (":" in remote_text.removeprefix("oci:") or "@" in remote_text):
        name, ref = resolve_reference(repo, remote_text)
        remote = ref.remote
        selector = ref.digest or ref.tag
    else:
        name, remote = resolve_remote(repo, remote_text)
    selector = selector or DEFAULT_TAG
    tag = None if dg.is_digest(selector) else check_tag(selector)
    return name, remote, open_target(remote, repo, insecure or None), selector, tag


def fetch(repo, remote_text: str | None = None, selector: str | None = None, insecure: bool = False) -> FetchResult:
    t0 = time.monotonic()
    remote_text, selector = _split_remote_and_selector(repo, remote_text, selector)
    name, remote, target, selector, tag = _target_for(repo, remote_text, selector, insecure)
    digest, _ = resolve_bundle(repo, target, selector)
    _mb, m, tree = load_bundle(repo, digest)
    total = sum(d.size for d in m.layers)
    pf = _progress_factory()
    with pf(f"Fetching {selector}", total) as bar:
        stats = fetch_into_store(repo, target, digest, None, bar)
    if tag is not None:
        old = repo.refs.read(f"refs/remotes/{name}/{tag}")
        repo.refs.write(f"refs/remotes/{name}/{tag}", digest)
        repo.refs.log("fetch", f"refs/remotes/{name}/{tag}", old, digest, f"{remote}:{tag}")
    else:
        repo.refs.log("fetch", f"refs/remotes/{name}", None, digest, f"{remote}@{digest}")
    return FetchResult(digest, str(remote), name, tag, tree, stats.copied, stats.bytes_copied, time.monotonic() - t0)


# -- pull --------------------------------------------------------------------------------------
@dataclass
class PullResult:
    digest: str
    remote: str
    tag: str | None
    actions: dict[str, str] = field(default_factory=dict)  # path → write|delete|restore|same
    conflicts: dict[str, str] = field(default_factory=dict)  # path → why
    kept_local: list[str] = field(default_factory=list)
    dry_run: bool = False
    bytes_written: int = 0
    seconds: float = 0.0


# roles live in mops.roles (shared by pull, materialize and verify)
from .roles import role_filter as _role_filter  # noqa: E402


def plan_pull(repo, index, base: Tree | None, theirs: Tree, overwrite: bool, restore_deleted: bool,
              wanted=None, lazy: bool = False) -> PullResult:
    """Decide, path by path, what a pull does.  A file's state is (digest, mode): a change of the
    execute bit is a change like any other.

    Rules (b = base, t = theirs, l = local worktree/index):
      t == b            keep local work (or restore a local deletion with --restore-deleted)
      l == t            nothing to write ("same": only the index learns it)
      l == b, t exists  write t (a remote addition or change to a file untouched locally)
      l == b, t gone    remote deletion of a synced file: conflict unless --overwrite
      otherwise         conflict (both changed, or an untracked file in the way) unless --overwrite
    """
    from .worktree import worktree_changes

    ch = worktree_changes(repo, index, untracked=True)
    modified, deleted, untracked = set(ch.modified), set(ch.deleted), set(ch.untracked)
    pointers = set() if lazy else {p for p, e in index.entries.items() if e[8] & FLAG_POINTER and p not in modified
                                   and p not in deleted}
    B = {p: (f.digest, f.mode) for p, f in base.files.items()} if base else {}
    T = {p: (f.digest, f.mode) for p, f in theirs.files.items()}
    res = PullResult("", "", None)

    def local(p: str) -> tuple[str, str] | None:
        e = index.entries.get(p)
        full = repo.abspath(p)
        if e is not None and p not in modified and p not in deleted:
            return "sha256:" + e[6].hex(), ("0755" if e[0] & 0o111 else "0644")
        if p in deleted or not os.path.isfile(full) or os.path.islink(full):
            return None
        mode = "0755" if os.stat(full).st_mode & 0o111 else "0644"
        if p in ch.new_digests:
            return ch.new_digests[p], mode
        return dg.of_file(full)[0], mode

    for p in sorted(B.keys() | T.keys()):
        if wanted is not None and not wanted(p):
            continue
        b, t = B.get(p), T.get(p)
        if p in pointers and t is not None and (t == b or index.entries[p][6].hex() == t[0][7:]):
            res.actions[p] = "write"  # a lazy pointer: a pull without --lazy brings the content
            continue
        if t == b:
            if restore_deleted and t is not None and p in deleted:
                res.actions[p] = "restore"
            elif p in index.entries and (p in modified or p in deleted or T.get(p) is None
                                         or "sha256:" + index.entries[p][6].hex() != t[0]):
                res.kept_local.append(p)
            elif p not in index.entries and t is not None:
                res.kept_local.append(p)  # a staged deletion (mops rm) is local work too
            continue
        present = p in index.entries or os.path.lexists(repo.abspath(p))
        if os.path.islink(repo.abspath(p)) and not overwrite:
            res.conflicts[p] = "symbolic link in the way"
            continue
        loc = local(p) if present else None
        if loc == t:
            res.actions[p] = "same" if t is not None else "forget"
        elif loc == b and not (b is None and p in untracked):
            if t is None:
                if overwrite:
                    res.actions[p] = "delete"
                else:
                    res.conflicts[p] = "deleted in the remote bundle"
            elif loc is not None and loc[0] == t[0]:
                res.actions[p] = "chmod"
            else:
                res.actions[p] = "write"
        else:
            why = "untracked file in the way" if b is None else ("changed locally and in the remote bundle" if t else
                                                                  "changed locally, deleted in the remote bundle")
            if overwrite:
                res.actions[p] = "delete" if t is None else ("chmod" if loc is not None and loc[0] == t[0] else "write")
            else:
                res.conflicts[p] = why
    return res


def _stream_direct(repo, target, files, batch, progress) -> None:
    """Download big registry files from ``target`` into ``batch`` temp files, in parallel; a digest
    shared by several paths is downloaded once and copied locally to the others."""
    from .checkout import safe_target
    from .copy import run_bounded

    groups: dict[str, list] = {}
    for f in files:
        groups.setdefault(f.digest, []).append(f)

    def one(group):
        first = group[0]
        with target.fetch_blob(first.digest, first.size) as src:
            tmp = batch.add(safe_target(repo.root, first.path), src, first.digest, first.size, first.mode, progress)
        for f in group[1:]:
            with open(tmp, "rb") as src:
                batch.add(safe_target(repo.root, f.path), src, f.digest, f.size, f.mode)

    run_bounded(one, list(groups.values()), concurrency(repo))


def _partial_base(base: Tree | None, theirs: Tree, wanted) -> Tree:
    """The base after a pull limited to some paths: theirs for those paths, the old base elsewhere,
    so a later full pull still applies the remote changes that were left out."""
    files = {p: f for p, f in (base.files.items() if base else ()) if not wanted(p)}
    files.update({p: f for p, f in theirs.files.items() if wanted(p)})
    return Tree(files, dict(theirs.extra))


def pull(repo, remote_text: str | None = None, selector: str | None = None, dry_run: bool = False, overwrite: bool = False,
         restore_deleted: bool = False, lazy: bool = False, role: str | None = None, paths: list[str] | None = None,
         insecure: bool = False) -> PullResult:
    from .checkout import BatchWriter, safe_target
    from .index import FLAG_POINTER, STORAGE_EXTERNAL, STORAGE_REGISTRY, entry_from_stat

    t0 = time.monotonic()
    remote_text, selector = _split_remote_and_selector(repo, remote_text, selector)
    name, remote, target, selector, tag = _target_for(repo, remote_text, selector, insecure)
    with repo.lock_index() as lock:
        index = repo.load_index()
        digest, _ = resolve_bundle(repo, target, selector)  # the tag is resolved once
        _mb, m, theirs = load_bundle(repo, digest)
        base_digest = repo.refs.base_digest()  # what the worktree was last synced with
        base = repo.read_tree(base_digest) if base_digest and repo.objects.has(base_digest) else None
        role_ok = _role_filter(theirs, role)
        rels = {repo.relpath(p) for p in paths} if paths else None

        def wanted(p: str) -> bool:
            if rels is not None and "" not in rels and not any(p == r or p.startswith(r + "/") for r in rels):
                return False
            return role_ok is None or role_ok(p)

        if rels is not None and "" not in rels:
            everything = theirs.files.keys() | (base.files.keys() if base else set())
            unknown = sorted(r for r in rels if not any(p == r or p.startswith(r + "/") for p in everything))
            if unknown:
                raise NotFound(f"no file of {remote}@{digest[:19]} matches {', '.join(unknown)}",
                               hint=f"list the bundle's files with mops show {remote}@{digest}")
        partial = (rels is not None or role_ok is not None) and not all(
            wanted(p) for p in (theirs.files.keys() | (base.files.keys() if base else set())))
        res = plan_pull(repo, index, base, theirs, overwrite, restore_deleted, wanted if partial else None, lazy)
        res.digest, res.remote, res.tag, res.dry_run = digest, str(remote), tag, dry_run
        if res.conflicts:
            lines = "\n".join(f"  {p}: {why}" for p, why in sorted(res.conflicts.items()))
            raise ConflictError(f"pull would lose local work; nothing was changed:\n{lines}",
                                hint="stage what you mean to keep with mops add, or rerun with --overwrite to take the remote version")
        writes = [p for p, a in res.actions.items() if a in ("write", "restore")]
        res.bytes_written = sum(theirs.files[p].size for p in writes)
        if dry_run:
            res.seconds = time.monotonic() - t0
            return res
        reg = [theirs.files[p] for p in sorted(writes) if theirs.files[p].storage == "registry"]
        ext = [p for p in writes if theirs.files[p].storage == "external"]
        # Big files are not kept in the object store (as with add): they stream from the remote
        # straight into a temp file beside their destination, verified as they are written, which
        # saves a second full copy.  Small ones go through the store, where later pulls find them.
        big_at = repo.config.get("core.big_file_threshold")
        direct = [f for f in reg if f.size >= big_at and not repo.objects.has(f.digest)]
        via_store = [f for f in reg if f not in direct]
        pf = _progress_factory()
        with pf(f"Pulling {selector}", res.bytes_written) as bar:
            fetch_into_store(repo, target, digest, via_store, bar)
            # every file is verified into a temp file first; all appear together, or none does
            with BatchWriter() as batch:
                for f in via_store:
                    with repo.objects.open(f.digest) as src:
                        batch.add(safe_target(repo.root, f.path), src, f.digest, f.size, f.mode)
                _stream_direct(repo, target, direct, batch, bar)
                if ext:
                    from .external_sync import materialize_external

                    materialize_external(repo, theirs, ext, lazy=lazy, progress=bar, batch=batch)
                written = batch.commit()
            for dest, st in written.items():
                p = dest.relative_to(repo.root).as_posix()
                f = theirs.files[p]
                if f.storage == "registry":
                    in_store = repo.objects.has(f.digest)  # big files streamed past the store are worktree-backed
                    index.entries[p] = entry_from_stat(st, f.digest, STORAGE_REGISTRY, 0 if in_store else FLAG_WORKTREE)
                else:
                    e = entry_from_stat(st, f.digest, STORAGE_EXTERNAL, FLAG_POINTER if lazy else 0)
                    # a pointer's entry keeps the content's size: write-tree and ls-files read it
                    index.entries[p] = e._replace(size=f.size) if lazy else e
        big_at = repo.config.get("core.big_file_threshold")
        for p, a in res.actions.items():
            if a in ("same", "chmod"):
                f = theirs.files[p]
                full = repo.abspath(p)
                if a == "chmod":
                    os.chmod(full, 0o755 if f.mode == "0755" else 0o644)
                flags = 0
                if not repo.objects.has(f.digest):
                    # the file already holds the bundle's content (say an identical untracked file):
                    # stage it as add would, so the index never names content found nowhere
                    if f.size >= big_at:
                        flags = FLAG_WORKTREE
                    elif repo.objects.put_file(full)[0] != f.digest:
                        raise ConflictError(f"{p}: changed while pull was running", hint="run mops pull again")
                index.entries[p] = entry_from_stat(os.stat(full), f.digest,
                                                   STORAGE_EXTERNAL if f.storage == "external" else STORAGE_REGISTRY, flags)
            elif a in ("delete", "forget"):
                if a == "delete":
                    try:
                        os.unlink(repo.abspath(p))
                    except FileNotFoundError:
                        pass
                index.entries.pop(p, None)
        lock.commit(index)
        new_base = digest
        if partial:
            merged = _partial_base(base, theirs, wanted).to_bytes()
            # limited pulls that together covered the whole bundle leave a full base
            new_base = digest if dg.of_bytes(merged) == m.config.digest else repo.objects.put_bytes(merged)
        _record(repo, name, tag, digest, "pull", f"{remote}:{tag}" if tag else f"{remote}@{digest}", remote,
                old=base_digest, base=new_base, insecure=insecure)
    res.seconds = time.monotonic() - t0
    return res


# -- hooks for status and diff -----------------------------------------------------------------
def remote_tree(repo, text: str) -> Tree:
    """The tree of a remote reference, downloading only its manifest and config."""
    _name, ref = resolve_reference(repo, text)
    target = open_target(ref.remote, repo)
    _digest, mbytes = resolve_bundle(repo, target, ref.selector)
    return _remote_tree_from_manifest(repo, target, mbytes)
