"""mops import: stage the files of a tar / tar.zst archive into the project."""

from __future__ import annotations

import os
import shutil
import stat as statmod
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click


@dataclass
class ImportResult:
    archive: str
    files: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    staged: int = 0


def _open_archive(path: Path):
    """A readable stream of the tar bytes, after checking the name matches the compression."""
    from mops.errors import UsageError
    from porcelain.export import ZSTD_MAGIC, archive_kind

    kind = archive_kind(path)
    raw = open(path, "rb")
    head = raw.read(4)
    raw.seek(0)
    if kind == "zst" and head != ZSTD_MAGIC:
        raw.close()
        raise UsageError(f"{path}: named .tar.zst but it is not zstd-compressed", hint="rename it to .tar")
    if kind == "tar" and head == ZSTD_MAGIC:
        raw.close()
        raise UsageError(f"{path}: named .tar but it is zstd-compressed", hint="rename it to .tar.zst")
    if kind == "zst":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    return raw


def import_archive(repo, archive: str | os.PathLike) -> ImportResult:
    """Unpack into a temp directory inside the project (refusing unsafe members before anything
    reaches the worktree), refuse files that would overwrite different local content (exit 12),
    then move the files into place and stage them."""
    from mops.bundle import check_bundle_path
    from mops.checkout import safe_target
    from mops.errors import ConflictError, UsageError
    from porcelain.add import add

    archive = Path(archive)
    if not archive.is_file():
        raise UsageError(f"{archive}: no such archive")
    res = ImportResult(str(archive))
    staging = Path(tempfile.mkdtemp(prefix="import.", dir=repo.dot))
    try:
        with _open_archive(archive) as stream:
            try:
                tar = tarfile.open(fileobj=stream, mode="r|")
            except tarfile.TarError as e:
                raise UsageError(f"{archive}: not a tar archive ({e})") from None
            with tar:
                seen: set[str] = set()
                for m in tar:
                    name = m.name[2:] if m.name.startswith("./") else m.name
                    name = name.rstrip("/") if m.isdir() else name
                    if m.isdir():
                        continue
                    if not m.isreg():
                        raise UsageError(f"{archive}: member {m.name!r} is not a regular file (links and devices are refused)")
                    check_bundle_path(name)
                    if name in seen:
                        raise UsageError(f"{archive}: member {name!r} appears twice")
                    seen.add(name)
                    dest = safe_target(staging, name, create_dirs=True)
                    src = tar.extractfile(m)
                    with open(dest, "xb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    os.chmod(dest, 0o755 if m.mode & 0o111 else 0o644)
                    res.files.append(name)
        from mops import digest as dg

        conflicts = []
        moves = []
        for name in sorted(res.files):
            target = safe_target(repo.root, name, create_dirs=False)
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                moves.append(name)
                continue
            if statmod.S_ISREG(st.st_mode) and dg.of_file(target)[0] == dg.of_file(staging / name)[0]:
                res.unchanged.append(name)
                if bool(st.st_mode & 0o111) != bool(os.stat(staging / name).st_mode & 0o111):
                    moves.append(name)
                continue
            conflicts.append(name)
        if conflicts:
            raise ConflictError("import would overwrite files that differ; nothing was changed:\n"
                                + "\n".join(f"  {p}" for p in conflicts),
                                hint="move them aside (or mops rm them) and import again")
        for name in moves:
            os.replace(staging / name, safe_target(repo.root, name, create_dirs=True))
        if res.files:
            r = add(repo, sorted(res.files), force=True, cwd=str(repo.root))
            res.staged = len(r.added) + len(r.updated)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return res


@click.command("import")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
def cli(as_json, archive):
    """Stage the files of ARCHIVE (.tar or .tar.zst) into the project.

    Members with unsafe paths (absolute, '..', inside .modelops-bundle/),
    links and devices are refused (exit 2) before anything is written.  A
    file that would overwrite different local content exits 12.

    \b
    Example:
      mops import sir-v1.tar.zst && mops status
    """
    from mops.ui import emit_json, open_repo, summary

    res = import_archive(open_repo(), archive)
    if as_json:
        emit_json("import", {"archive": res.archive, "files": res.files, "unchanged": res.unchanged, "staged": res.staged})
        return
    summary(f"imported {len(res.files)} file(s) from {res.archive}: {res.staged} staged, {len(res.unchanged)} already present")
