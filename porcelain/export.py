"""mops export: a bundle (or what is staged) as a deterministic tar or tar.zst archive.

The same files give the same archive bytes on any machine, any day: members sorted by the UTF-8
bytes of their paths; regular files only (parent directories are implied); mtime 0; uid and gid
0; empty owner and group names; mode 0644 or 0755; POSIX pax format (pax headers appear only for
long or non-ASCII paths); zstd level ``ZSTD_LEVEL``, single-threaded, no checksum, in one frame.
External files are fetched into the archive with ``--include-external``; otherwise their pointer
files (docs/FORMAT.md) stand at their paths.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import click

ZSTD_LEVEL = 3  # fixed: changing it changes every .tar.zst mops writes (documented in man/mops-export.1)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def archive_kind(path: str | os.PathLike) -> str:
    """``tar`` or ``zst`` from the file name; anything else is a usage error (exit 2)."""
    name = os.fspath(path)
    if name.endswith(".tar.zst") or name.endswith(".tzst"):
        return "zst"
    if name.endswith(".tar"):
        return "tar"
    from mops.errors import UsageError

    raise UsageError(f"{name}: unsupported archive name; use .tar or .tar.zst")


def pointer_bytes(f) -> bytes:
    """The pointer file that stands for external file ``f`` (mops.pointer's format, docs/FORMAT.md):
    the same bytes ``materialize --lazy`` writes, so an imported archive's pointers are recognised."""
    from mops.pointer import Pointer

    return Pointer(f.digest, f.size, f.uri, f.path).to_bytes()


def tar_info(path: str, size: int, mode: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(path)
    ti.size = size
    ti.mtime = 0
    ti.mode = 0o755 if mode == "0755" else 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


def write_archive(out_path: Path, members: list[tuple[str, int, str, object]]) -> int:
    """members: (path, size, mode, opener) → the archive at ``out_path``, written atomically."""
    from mops.fsutil import _unlink_quiet, mkstemp_beside

    kind = archive_kind(out_path)
    members = sorted(members, key=lambda m: m[0].encode("utf-8"))
    fd, tmp = mkstemp_beside(out_path)
    try:
        with os.fdopen(fd, "wb") as raw:
            if kind == "zst":
                import zstandard

                cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0, write_checksum=False)
                sink = cctx.stream_writer(raw, closefd=False)
            else:
                sink = raw
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for path, size, mode, opener in members:
                    with opener() as src:
                        tar.addfile(tar_info(path, size, mode), src)
            if kind == "zst":
                sink.flush(zstandard.FLUSH_FRAME)
                sink.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    return len(members)


@dataclass
class ExportResult:
    path: str
    source: str
    digest: str | None
    files: int
    bytes: int
    external_as_pointers: int


def export(repo, ref: str | None, out_path: str | os.PathLike, index: bool = False, include_external: bool = False,
           progress_factory=None) -> ExportResult:
    import io

    from mops.errors import UsageError

    out_path = Path(out_path)
    archive_kind(out_path)
    if (ref is None) == (not index):
        raise UsageError("name what to export: a bundle REF or --index (not both)", hint="mops export v1 out.tar.zst")
    members = []
    pointers = 0
    if index:
        if repo is None:
            from mops.errors import NotAProject

            raise NotAProject(os.getcwd())
        from mops.worktree import open_staged
        from plumbing.write_tree import build_tree

        idx = repo.load_index()
        tree = build_tree(repo, idx)
        digest = None
        source = "index"

        def opener_for(f):
            ptr = lazy_in_worktree(repo, f)
            if ptr is not None:  # only a pointer is here (a lazy pull): the content is in its store
                return lambda: fetched_external(repo, f, ptr.uri)
            return lambda: open_staged(repo, f.path, idx.get(f.path))
    else:
        from mops.materialize import _fetch, resolve

        res = resolve(ref, repo)
        tree, digest, source = res.tree, res.digest, res.name
        wanted = [f for f in tree.files.values() if f.storage == "registry" or include_external]

        class _Counter:
            objects_fetched = 0
            bytes_fetched = 0

        from mops.remotes import concurrency

        _fetch(res, wanted, res.source.cache, progress_factory, concurrency(repo), _Counter())

        def opener_for(f):
            return lambda: res.source.cache.open_object(f.digest)
    total = 0
    for f in tree.files.values():
        if f.storage == "external" and not include_external:
            data = pointer_bytes(f)
            members.append((f.path, len(data), f.mode, (lambda d=data: io.BytesIO(d))))
            pointers += 1
            total += len(data)
        else:
            members.append((f.path, f.size, f.mode, opener_for(f)))
            total += f.size
    n = write_archive(out_path, members)
    return ExportResult(str(out_path), source, digest, n, total, pointers)


def lazy_in_worktree(repo, f):
    """The pointer standing for staged file ``f`` when the worktree holds only that (a lazy pull)
    and the object store lacks the content; else None."""
    from mops.pointer import load_if_pointer

    if repo.objects.has(f.digest):
        return None
    p = load_if_pointer(repo.abspath(f.path))
    return p if p is not None and p.digest == f.digest and p.size == f.size else None


def fetched_external(repo, f, uri: str):
    """A reader of ``f``'s content fetched from ``uri`` (verified) into the shared cache."""
    import dataclasses

    from mops.cache import Cache
    from mops.materialize import Source

    f = dataclasses.replace(f, storage="external", uri=uri)
    cache = Cache.open(repo)
    source = Source(repo, cache)
    cache.ensure(f.digest, f.size, source.opener(f), what=f"{f.path} from {uri}")
    cache.record_etags(source.etags)
    return cache.open_object(f.digest)


def _refuse_missing_directory(path: str) -> None:
    """OUT's directory must exist (as for tar -cf): exit 2 naming it, not an internal error."""
    import os

    from mops.errors import UsageError

    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        why = "is not a directory" if os.path.exists(d) else "does not exist"
        raise UsageError(f"{path}: cannot be created, {d} {why}")


@click.command("export")
@click.option("--index", "from_index", is_flag=True, help="Export what is staged instead of a bundle.")
@click.option("--include-external", is_flag=True, help="Put external files' content in the archive, not their pointers.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("args", nargs=-1, metavar="[REF] OUT.tar[.zst]")
def cli(from_index, include_external, as_json, args):
    """Write bundle REF (or, with --index, what is staged) as a deterministic archive.

    The archive's bytes depend only on the files: paths sorted by their
    UTF-8 bytes, mtime 0, uid/gid 0, empty owner names, modes 0644/0755,
    and for .tar.zst a fixed zstd level (3).  The name says the format:
    .tar or .tar.zst; anything else exits 2.  External files are stored
    as pointer files (the format materialize --lazy writes) unless
    --include-external fetches their content into the archive.

    \b
    Example:
      mops export v1 sir-v1.tar.zst
      mops export --index snapshot.tar
      mops export --include-external v1 full.tar.zst
    """
    from mops.errors import UsageError
    from mops.lookup import find_repo_or_none
    from mops.ui import emit_json, human_size, out, progress, summary

    if from_index and len(args) == 1:
        ref, dest = None, args[0]
    elif not from_index and len(args) == 2:
        ref, dest = args
    else:
        raise UsageError("usage: mops export REF OUT.tar[.zst]  or  mops export --index OUT.tar[.zst]")
    _refuse_missing_directory(dest)
    res = export(find_repo_or_none(), ref, dest, index=from_index, include_external=include_external,
                 progress_factory=progress)
    if as_json:
        emit_json("export", {"path": res.path, "source": res.source, "digest": res.digest, "files": res.files,
                             "bytes": res.bytes, "pointers": res.external_as_pointers})
        return
    out(res.path)
    summary(f"exported {res.files} file(s) ({human_size(res.bytes)}) of {res.source} to {res.path}"
            + (f"; {res.external_as_pointers} external file(s) as pointers" if res.external_as_pointers else ""))
