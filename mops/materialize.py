"""Materialize: write a bundle into any directory, through the shared cache (the worker path).

    result = materialize("ghcr.io/acme/sir@sha256:…", "/scratch/sir")
    digest, path = result

No project is needed.  Blobs — registry layers and external objects alike — are fetched once
into the shared cache (``mops.cache``), verified, read-only, and reach DEST by reflink, else
hardlink, else copy.  Every object is fetched before DEST is touched, so an unreachable store or a
corrupt object fails the run with DEST as it was.  DEST receives the bundle's files and nothing
else; the completion marker lives in the cache.  Under the destination's lock the marker is dropped
before the first change and written after the last, so a directory is either known complete or
redone by the next run.  Files already right are not rewritten; a differing file stops the run
(exit 12) before anything changes unless ``overwrite``; ``mirror`` deletes extras.  With ``lazy``,
external files are written as pointer files (``mops.pointer``); a later run without ``lazy``
replaces those pointers with verified content.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat as statmod
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import digest as dg
from .bundle import FileRecord, Tree, is_bundle_manifest, parse_manifest, parse_tree
from .cache import Cache
from .checkout import safe_target
from .errors import AuthError, ConflictError, IntegrityError, NotFound, RemoteUnavailable, UsageError
from .fsutil import _unlink_quiet, fsync_dir, try_reflink
from .streams import ReaderWrapper

LINK_MODES = ("auto", "reflink", "hardlink", "copy")
_TMP_RE = re.compile(r"^\..+\.mops-[0-9a-f]{8}$")  # our temp names in DEST: .NAME.mops-XXXXXXXX


@dataclass
class MaterializeResult:
    digest: str
    path: str
    name: str  # canonical repository@sha256:<hex> (or the digest for a local-only bundle)
    role: str | None = None
    files: int = 0
    written: list[str] = field(default_factory=list)
    pointers: list[str] = field(default_factory=list)  # external files written as lazy pointers
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chmod: list[str] = field(default_factory=list)
    linked: dict[str, int] = field(default_factory=dict)  # reflink/hardlink/copy → count
    objects_fetched: int = 0
    bytes_fetched: int = 0
    dry_run: bool = False
    up_to_date: bool = False
    seconds: float = 0.0

    def __iter__(self):  # digest, path = materialize(...)
        yield self.digest
        yield self.path

    def to_json(self) -> dict:
        return {"digest": self.digest, "path": self.path, "resolved": self.name, "role": self.role, "files": self.files,
                "written": self.written, "pointers": self.pointers, "unchanged": len(self.unchanged), "removed": self.removed, "chmod": self.chmod,
                "linked": self.linked, "objects_fetched": self.objects_fetched, "bytes_fetched": self.bytes_fetched,
                "dry_run": self.dry_run, "up_to_date": self.up_to_date, "seconds": round(self.seconds, 3)}


# -- finding the bundle -------------------------------------------------------------------------
class Source:
    """Where a bundle's bytes come from: the cache, the project's object store, the remote."""

    def __init__(self, repo, cache: Cache, remote=None):
        self.repo, self.cache, self.remote = repo, cache, remote
        self._target = None
        self._stores: dict[str, object] = {}
        self.etags: dict[str, tuple[int, str]] = {}  # uri → (size, etag) seen just before a download

    def target(self):
        if self._target is None:
            if self.remote is None:
                raise NotFound("the bundle's blobs are not available locally and it names no remote",
                               hint="materialize it as REMOTE@sha256:<hex> or REMOTE:TAG")
            from .remotes import open_target

            self._target = open_target(self.remote, self.repo)
        return self._target

    def opener(self, f: FileRecord):
        d = f.digest
        if self.repo is not None and self.repo.objects.has(d):
            return lambda: self.repo.objects.open(d)
        if f.storage == "external":
            return lambda: self.open_external(f)
        return lambda: self.target().fetch_blob(d, f.size)

    def open_external(self, f: FileRecord):
        """A reader of an external object.  Its size is checked first (a wrong object is not
        downloaded at all) and its etag noted, to be remembered once the bytes have verified."""
        from .external import READ_CHUNK, split_uri

        _url, d = split_uri(f.uri)
        if d != f.digest:
            raise UsageError(f"{f.path}: external uri {f.uri} names {d}, but the file's digest is {f.digest}")
        store = self.store_for(f.uri)
        try:
            info = store.stat(f.digest)
            if info is None:
                probe_missing(store, f.digest)
        except (RemoteUnavailable, AuthError) as e:  # say which file needed the store
            raise type(e)(f"{f.path}: {e.message}", hint=e.hint) from None
        if info is None:
            raise IntegrityError(f"{f.path}: {f.uri} is missing from the external store",
                                 hint="push the bundle again from a project that has the file (mops push)")
        if info.size != f.size:
            raise IntegrityError(f"{f.path}: {f.uri} has {info.size} bytes, the bundle records {f.size}; nothing was written",
                                 hint="the object in the store was changed or damaged: delete it and push the bundle again")
        if info.etag:
            self.etags[f.uri] = (f.size, info.etag)
        return Rechunked(store.open(f.digest), READ_CHUNK)

    def store_for(self, uri: str):
        from .external import open_store, options_for, split_uri

        url, _d = split_uri(uri)
        if url not in self._stores:
            opts = options_for(self.repo.config, url) if self.repo is not None else {}
            self._stores[url] = open_store(url, opts)
        return self._stores[url]

    def blob_bytes(self, d: str, size: int, what: str) -> bytes:
        """A small blob (a config), via the cache."""
        import io

        if not self.cache.intact(d, size):
            if self.repo is not None and self.repo.objects.has(d):
                data = self.repo.objects.read(d)
                self.cache.ensure(d, size, lambda: io.BytesIO(data), what=what)
            else:
                self.cache.ensure(d, size, lambda: self.target().fetch_blob(d, size), what=what)
        return self.cache.read_bytes(d)


def probe_missing(store, digest: str) -> None:
    """An object ``stat`` did not find: raise RemoteUnavailable (3) if the store itself is absent
    (an unmounted ``file://`` share answers every stat with "no such file"); return if it is only
    the object that is missing."""
    try:
        store.open(digest).close()
    except IntegrityError:
        pass


class Rechunked(ReaderWrapper):
    """Serve small reads from big ones: the cache reads 1 MiB at a time, while a ranged-GET store
    (Azure, GCS) costs a request per read, so the store is read ``chunk`` bytes at a time."""

    def __init__(self, f, chunk: int):
        super().__init__(f)
        self.chunk = chunk
        self.buf = memoryview(b"")

    def read(self, n: int = -1):
        if not self.buf:
            self.buf = memoryview(self.f.read(self.chunk))
        if n is None or n < 0 or n >= len(self.buf):
            out, self.buf = self.buf, memoryview(b"")
        else:
            out, self.buf = self.buf[:n], self.buf[n:]
        return out


@dataclass
class Resolved:
    name: str
    digest: str
    manifest: bytes
    tree: Tree
    source: Source

    def object_digests(self) -> list[str]:
        m = parse_manifest(self.manifest)
        return [self.digest, m.config.digest, *(f.digest for f in self.tree.files.values())]


def resolve(ref: str, repo=None, cache: Cache | None = None) -> Resolved:
    """A bundle reference → its manifest and tree, preferring what is already on this machine.

    ``REMOTE@sha256:<hex>`` whose manifest is cached needs no network at all; a tag is always
    asked of its remote (tags move)."""
    cache = cache or Cache.open(repo)
    name = digest = mbytes = None
    remote = None
    if repo is not None:
        from .revs import resolve_local

        try:
            d = resolve_local(repo, ref)
        except Exception:  # noqa: BLE001 — not a local name: a remote reference
            d = None
        if d is not None and repo.objects.has(d):
            from .objects import kind_of_bytes

            data = repo.objects.read(d)
            if kind_of_bytes(data) == "manifest":
                digest, mbytes = d, data
                from .lookup import _local_name

                name = _local_name(repo, ref, d)
                remote = _default_remote(repo)
    if digest is None:
        from .remotes import resolve_reference

        _n, r = resolve_reference(repo, ref)
        remote = r.remote
        if r.digest is not None and cache.has(r.digest) and dg.of_bytes(cache.read_bytes(r.digest)) == r.digest:
            digest, mbytes = r.digest, cache.read_bytes(r.digest)
        else:
            from .remotes import open_target

            target = open_target(r.remote, repo)
            digest, mbytes = target.resolve(r.selector)
            if dg.of_bytes(mbytes) != digest:
                raise IntegrityError(f"manifest of {ref} from {target.name} does not hash to {digest}")
        name = f"{r.remote.url}@{digest}"
    if dg.of_bytes(mbytes) != digest:
        raise IntegrityError(f"manifest {digest} in the cache is corrupt", hint=f"remove {cache.object_path(digest)}")
    m = parse_manifest(mbytes, f"manifest {digest}")
    if not is_bundle_manifest(m):
        raise UsageError(f"{name} is not a mops bundle (config media type {m.config.media_type!r})")
    cache.put_bytes(mbytes, expected=digest)
    source = Source(repo, cache, remote)
    cfg = source.blob_bytes(m.config.digest, m.config.size, f"config of {name}")
    if dg.of_bytes(cfg) != m.config.digest:
        raise IntegrityError(f"config {m.config.digest} of {name} is corrupt in the cache",
                             hint=f"remove {cache.object_path(m.config.digest)} and retry")
    tree = parse_tree(cfg, f"bundle config {m.config.digest}")
    return Resolved(name, digest, mbytes, tree, source)


def _default_remote(repo):
    from .reference import DEFAULT_REMOTE, parse_remote

    url = repo.config.section("remotes.").get(DEFAULT_REMOTE)
    return parse_remote(url, str(repo.root)) if url else None


# -- planning -------------------------------------------------------------------------------------
@dataclass
class Plan:
    write: list[FileRecord] = field(default_factory=list)
    pointers: list[FileRecord] = field(default_factory=list)  # lazy: external files to write as pointers
    same: list[FileRecord] = field(default_factory=list)
    chmod: list[FileRecord] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    extras: list[str] = field(default_factory=list)
    stale_tmp: list[Path] = field(default_factory=list)


def _want_exec(f: FileRecord) -> bool:
    return f.mode == "0755"


def plan(dest: Path, files: list[FileRecord], cache: Cache, marker: dict | None, overwrite: bool, mirror: bool,
         lazy: bool = False) -> Plan:
    pl = Plan()
    recorded = (marker or {}).get("files") or {}
    dirs: set[Path] = {dest}
    for f in files:
        target = safe_target(dest, f.path, create_dirs=False)
        dirs.add(target.parent)
        # what a file that is missing or to be replaced becomes: content, or (lazy) a pointer
        fresh = pl.pointers if lazy and f.storage == "external" else pl.write
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            fresh.append(f)
            continue
        except NotADirectoryError:
            raise UsageError(f"{f.path}: a file in {dest} is where a directory is needed") from None
        if not statmod.S_ISREG(st.st_mode):
            why = "a symbolic link" if statmod.S_ISLNK(st.st_mode) else "not a regular file"
            (fresh.append(f) if overwrite else pl.conflicts.__setitem__(f.path, f"{why} is in the way"))
            continue
        if f.storage == "external" and st.st_size != f.size and _is_pointer_to(target, st, f.digest):
            # our own lazy pointer: right as it is for --lazy, replaced by the content otherwise
            if not lazy:
                pl.write.append(f)
            elif bool(st.st_mode & 0o111) != _want_exec(f):
                pl.chmod.append(f)
            else:
                pl.same.append(f)
            continue
        same = _is_same(f, target, st, cache, recorded.get(f.path))
        if same:
            if bool(st.st_mode & 0o111) != _want_exec(f):
                pl.chmod.append(f)
            else:
                pl.same.append(f)
        elif overwrite:
            fresh.append(f)
        else:
            pl.conflicts[f.path] = "differs from the bundle"
    for d in dirs:
        try:
            for e in os.scandir(d):
                if _TMP_RE.match(e.name) and e.is_file(follow_symlinks=False):
                    pl.stale_tmp.append(Path(e.path))
        except (FileNotFoundError, NotADirectoryError):
            continue
    if mirror and dest.is_dir():
        keep = {f.path for f in files}
        for dirpath, dirnames, filenames in os.walk(dest):
            rel_dir = os.path.relpath(dirpath, dest)
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d != ".modelops-bundle"]  # never a project's bookkeeping
            for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                if rel not in keep and not _TMP_RE.match(name):
                    pl.extras.append(rel)
        pl.extras.sort()
    return pl


def _is_pointer_to(target: Path, st: os.stat_result, digest: str) -> bool:
    from .pointer import points_to

    return points_to(target, digest, st)


def _is_same(f: FileRecord, target: Path, st: os.stat_result, cache: Cache, rec) -> bool:
    if st.st_size != f.size:
        return False
    if rec and rec[0] == f.digest and rec[1:] == [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]:
        return True  # exactly as this directory's last complete materialize left it
    try:
        ost = os.stat(cache.object_path(f.digest))
        if (ost.st_dev, ost.st_ino) == (st.st_dev, st.st_ino) and cache.intact(f.digest, f.size):
            return True  # a hardlink of the verified, untouched cache object
    except FileNotFoundError:
        pass
    return dg.of_file(target)[0] == f.digest


# -- placing files ---------------------------------------------------------------------------------
class Placer:
    """Put a cached object at a path: reflink, else hardlink, else copy (or the one forced)."""

    def __init__(self, link: str):
        if link not in LINK_MODES:
            raise UsageError(f"invalid link mode {link!r}: auto, reflink, hardlink or copy")
        self.link = link
        self.can_reflink = link in ("auto", "reflink")
        self.can_hardlink = link in ("auto", "hardlink")
        self.counts: dict[str, int] = {}

    def place(self, obj: Path, target: Path, f: FileRecord) -> str:
        tmp = target.parent / f".{target.name}.mops-{secrets.token_hex(4)}"
        try:
            how = self._make(obj, tmp, f)
            os.replace(tmp, target)
        except BaseException:
            _unlink_quiet(str(tmp))
            raise
        self.counts[how] = self.counts.get(how, 0) + 1
        return how

    def place_pointer(self, target: Path, f: FileRecord) -> None:
        """A lazy pointer at ``target`` (mops.pointer's format), through a temp name like any file."""
        from .pointer import Pointer

        tmp = target.parent / f".{target.name}.mops-{secrets.token_hex(4)}"
        try:
            with open(tmp, "xb") as out:
                out.write(Pointer(f.digest, f.size, f.uri, f.path).to_bytes())
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o755 if _want_exec(f) else 0o644)
            os.replace(tmp, target)
        except BaseException:
            _unlink_quiet(str(tmp))
            raise

    def _make(self, obj: Path, tmp: Path, f: FileRecord) -> str:
        mode = 0o755 if _want_exec(f) else 0o644
        if self.can_reflink:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with open(obj, "rb") as src:
                    ok = try_reflink(src.fileno(), fd)
            finally:
                os.close(fd)
            if ok:
                os.chmod(tmp, mode)
                return "reflink"
            os.unlink(tmp)
            if self.link == "reflink":
                raise UsageError(f"{tmp.parent}: this filesystem cannot reflink from the cache at {obj.parents[3]}",
                                 hint="use --link auto (or hardlink/copy)")
            self.can_reflink = False
        # a hardlink shares the cache object's read-only 0444 mode, so executables are copied
        if self.can_hardlink and not _want_exec(f):
            try:
                os.link(obj, tmp)
                return "hardlink"
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
                if self.link == "hardlink":
                    raise UsageError(f"{tmp.parent}: cannot hardlink from the cache at {obj.parents[3]} ({e.strerror})",
                                     hint="put the cache on the same filesystem ($MOPS_CACHE) or use --link auto") from None
                self.can_hardlink = False
        with open(obj, "rb") as src, open(tmp, "xb") as out:
            shutil.copyfileobj(src, out, dg.CHUNK)
            out.flush()
            os.fsync(out.fileno())  # reflinks and hardlinks share the cache's already durable blocks
        os.chmod(tmp, mode)
        return "copy"


# -- the one entry point ----------------------------------------------------------------------------
def materialize(ref: str, dest: str | os.PathLike, role: str | None = None, mirror: bool = False, overwrite: bool = False,
                lazy: bool = False, dry_run: bool = False, link: str = "auto", repo=..., cache: Cache | None = None,
                progress_factory=None, concurrency: int | None = None) -> MaterializeResult:
    """Write bundle ``ref`` (files of ``role``) into ``dest``; returns the digest, path and what changed."""
    t0 = time.monotonic()
    if repo is ...:
        from .lookup import find_repo_or_none

        repo = find_repo_or_none()
    if link not in LINK_MODES:
        raise UsageError(f"invalid link mode {link!r}: auto, reflink, hardlink or copy")
    cache = cache or Cache.open(repo)
    dest = Path(os.path.abspath(os.fspath(dest)))
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a directory")
    if mirror:
        # --mirror deletes whatever the bundle lacks: never let that reach a checkout's history
        for guard in (".git", ".modelops-bundle", ".hg"):
            if (dest / guard).exists():
                raise ConflictError(f"refusing to mirror into {dest}: it holds {guard}/, which --mirror would delete",
                                    hint="materialize into a directory of its own, or drop --mirror")
    res_ = resolve(ref, repo, cache)
    from .roles import select

    files = select(res_.tree, role)
    res = MaterializeResult(res_.digest, str(dest), res_.name, role, files=len(files), dry_run=dry_run)
    if dry_run:
        pl = plan(dest, files, cache, cache.read_marker(dest) if dest.is_dir() else None, overwrite, mirror, lazy)
        _raise_conflicts(pl, dest)
        res.written = [f.path for f in pl.write]
        res.pointers = [f.path for f in pl.pointers]
        res.unchanged = [f.path for f in pl.same]
        res.chmod = [f.path for f in pl.chmod]
        res.removed = pl.extras if mirror else []
        res.seconds = time.monotonic() - t0
        return res
    created = _make_dest(dest)
    try:
        with cache.dest_lock(dest):
            _materialize_locked(res_, dest, files, cache, res, role, mirror, overwrite, lazy, link, progress_factory,
                                concurrency or _concurrency(repo))
    except BaseException:
        if created:  # a run that failed before writing anything leaves no empty DEST behind
            _rmdirs_quiet(dest, created)
        raise
    res.seconds = time.monotonic() - t0
    return res


def _make_dest(dest: Path) -> Path | None:
    """Create ``dest`` (and parents); return the topmost directory created, or None."""
    top = None
    p = dest
    while not p.exists():
        top = p
        p = p.parent
    dest.mkdir(parents=True, exist_ok=True)
    return top


def _rmdirs_quiet(dest: Path, top: Path) -> None:
    p = dest
    while True:
        try:
            os.rmdir(p)
        except OSError:
            return
        if p == top:
            return
        p = p.parent


def _materialize_locked(res_: Resolved, dest: Path, files: list[FileRecord], cache: Cache, res: MaterializeResult,
                        role, mirror: bool, overwrite: bool, lazy: bool, link: str, progress_factory, concurrency: int) -> None:
    marker = cache.read_marker(dest)
    pl = plan(dest, files, cache, marker, overwrite, mirror, lazy)
    _raise_conflicts(pl, dest)
    key = {"digest": res_.digest, "role": role, "link": link}
    if (marker and all(marker.get(k) == v for k, v in key.items()) and not pl.write and not pl.pointers
            and not pl.chmod and not (mirror and pl.extras) and not pl.stale_tmp):
        res.unchanged = [f.path for f in pl.same]
        res.up_to_date = True
        cache.touch_bundle(res_.digest, res_.object_digests())
        return
    # every object is in the cache, verified, before DEST changes: a store that is down or an
    # object that is corrupt fails the run with DEST (and its marker) exactly as they were
    _fetch(res_, pl.write, cache, progress_factory, concurrency, res)
    cache.drop_marker(dest)  # from here until the new marker, the directory counts as incomplete
    for p in pl.stale_tmp:
        _unlink_quiet(str(p))
    placer = Placer(link)
    touched_dirs: set[Path] = set()
    for f in pl.write:
        target = safe_target(dest, f.path, create_dirs=True)
        obj = cache.object_path(f.digest)
        try:
            placer.place(obj, target, f)
        except FileNotFoundError:
            if obj.exists():
                raise
            # evicted by a concurrent gc --cache between fetch and link: fetch it again
            cache.ensure(f.digest, f.size, res_.source.opener(f), what=f.path)
            placer.place(obj, target, f)
        touched_dirs.add(target.parent)
        res.written.append(f.path)
    for f in pl.pointers:
        target = safe_target(dest, f.path, create_dirs=True)
        placer.place_pointer(target, f)
        touched_dirs.add(target.parent)
        res.pointers.append(f.path)
    for f in pl.chmod:
        os.chmod(safe_target(dest, f.path, create_dirs=False), 0o755 if _want_exec(f) else 0o644)
        res.chmod.append(f.path)
    if mirror:
        for rel in pl.extras:
            _unlink_quiet(str(dest / rel))
            res.removed.append(rel)
        _prune_empty_dirs(dest, {str(dest / f.path).rsplit(os.sep, 1)[0] for f in files})
    if res.removed:
        touched_dirs.add(dest)
    for d in touched_dirs:  # the renames are durable before the marker says "complete"
        fsync_dir(d)
    rec = {}
    for f in files:
        st = os.lstat(dest / f.path)
        rec[f.path] = [f.digest, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    cache.write_marker(dest, {**key, "name": res_.name, "files": rec, "time": int(time.time())})
    cache.touch_bundle(res_.digest, res_.object_digests())
    res.unchanged = [f.path for f in pl.same]
    res.linked = placer.counts


def _raise_conflicts(pl: Plan, dest: Path) -> None:
    if pl.conflicts:
        lines = "\n".join(f"  {dest / p}: {why}" for p, why in sorted(pl.conflicts.items()))
        raise ConflictError(f"materialize would overwrite files that differ from the bundle; nothing was changed:\n{lines}",
                            hint="rerun with --overwrite to replace them")


def _concurrency(repo) -> int:
    from .remotes import concurrency

    return concurrency(repo)


def _fetch(res_: Resolved, files: list[FileRecord], cache: Cache, progress_factory, concurrency: int, res) -> None:
    """Bring every object ``files`` need into the cache, in parallel, each at most once machine-wide."""
    need: dict[str, FileRecord] = {}
    for f in files:
        if not cache.intact(f.digest, f.size):
            need.setdefault(f.digest, f)
    if not need:
        return
    total = sum(f.size for f in need.values())
    if progress_factory is None:
        from contextlib import nullcontext

        bar_cm = nullcontext(None)
    else:
        bar_cm = progress_factory(f"Fetching {len(need)} object(s)", total)
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    with bar_cm as bar:
        def one(f: FileRecord) -> bool:
            what = f"{f.path} from {f.uri}" if f.storage == "external" else f.path
            _p, fetched = cache.ensure(f.digest, f.size, res_.source.opener(f), bar, what=what)
            return fetched

        items = list(need.values())
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items)))) as pool:
            futs = {pool.submit(one, f): f for f in items}
            done, pending = wait(futs, return_when=FIRST_EXCEPTION)
            for fut in pending:
                fut.cancel()
            for fut in futs:
                if fut.done() and not fut.cancelled() and fut.exception() is not None:
                    raise fut.exception()
            for fut, f in futs.items():
                if fut.result():
                    res.objects_fetched += 1
                    res.bytes_fetched += f.size
    if res_.source.etags:  # every download verified: remember what the store called those objects
        cache.record_etags(res_.source.etags)


def _prune_empty_dirs(dest: Path, keep: set[str]) -> None:
    for dirpath, dirnames, filenames in os.walk(dest, topdown=False):
        if dirpath == str(dest) or dirpath in keep or filenames or dirnames:
            continue
        if os.path.basename(dirpath) == ".modelops-bundle":
            continue
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def ensure_local(bundle_ref: str, role: str | None = None, repo=..., cache: Cache | None = None) -> tuple[str, str]:
    """The worker's call: the bundle's files in a directory of the shared cache → (digest, path).

    The directory is read-only in spirit (files may be hardlinks of cache objects); a second call
    for the same bundle returns at once."""
    if repo is ...:
        from .lookup import find_repo_or_none

        repo = find_repo_or_none()
    cache = cache or Cache.open(repo)
    resolved = resolve(bundle_ref, repo, cache)
    dest = cache.checkout_dir(resolved.digest, role)
    res = materialize(resolved.name if "@" in resolved.name else bundle_ref, dest, role=role, mirror=True, overwrite=True,
                      repo=repo, cache=cache)
    return res.digest, res.path


class _CallableModule(__import__("types").ModuleType):
    """``mops.materialize`` names both this module and its function: when the module was imported
    first (``import mops.materialize``), the attribute ``mops.materialize`` is the module, so calling
    it must still materialize."""

    def __call__(self, *args, **kwargs):
        return materialize(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
