"""Refs: ``refs/tags/<name>`` and ``refs/remotes/<remote>/<tag>``, one digest per file; the reflog.

``HEAD`` names the remote-tracking ref the worktree was last synced with (``ref: refs/remotes/
origin/latest``); the bundle it points at is the *base* that ``status`` and ``pull`` compare with.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from . import digest as dg
from .errors import NotFound, UsageError
from .fsutil import atomic_write_bytes

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_tag_name(name: str) -> str:
    """OCI tag grammar ``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``; never a ``/``."""
    if not _NAME_RE.match(name):
        raise UsageError(f"invalid tag name {name!r}: use letters, digits, '_', '.', '-' (max 128, no '/')")
    return name


def check_ref_path(name: str) -> str:
    parts = name.split("/")
    shape = {"tags": 3, "remotes": 4}.get(parts[1] if len(parts) > 1 else "")
    if parts[0] != "refs" or len(parts) != shape or any(not _NAME_RE.match(p) for p in parts[1:]):
        raise UsageError(f"invalid ref name {name!r}: expected refs/tags/NAME or refs/remotes/REMOTE/TAG")
    return name


class Refs:
    def __init__(self, dot: str | os.PathLike):
        self.dot = Path(dot)

    def _path(self, name: str) -> Path:
        return self.dot / check_ref_path(name)

    def read(self, name: str) -> str | None:
        try:
            text = self._path(name).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return dg.parse_digest(text)

    def write(self, name: str, digest: str) -> None:
        p = self._path(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(p, (dg.parse_digest(digest) + "\n").encode())

    def delete(self, name: str) -> bool:
        try:
            self._path(name).unlink()
            return True
        except FileNotFoundError:
            return False

    def all(self) -> list[tuple[str, str]]:
        """(name, digest) for every ref, sorted by name."""
        out = []
        base = self.dot / "refs"
        if base.is_dir():
            for dirpath, _dirs, files in os.walk(base):
                for f in files:
                    if f.startswith("."):
                        continue
                    full = Path(dirpath) / f
                    name = full.relative_to(self.dot).as_posix()
                    try:
                        out.append((name, dg.parse_digest(full.read_text())))
                    except UsageError:
                        continue
        return sorted(out)

    def resolve_short(self, name: str) -> tuple[str, str]:
        """git's short names: ``v1`` → refs/tags/v1, ``origin/latest`` → refs/remotes/origin/latest."""
        candidates = [name] if name.startswith("refs/") else [f"refs/tags/{name}", f"refs/remotes/{name}", f"refs/{name}"]
        for c in candidates:
            try:
                d = self.read(c)
            except UsageError:
                continue
            if d:
                return c, d
        raise NotFound(f"unknown ref {name!r}", hint="list refs with mops show-ref")

    # -- HEAD: the sync base -------------------------------------------------------------
    # HEAD records what the worktree was last synced with, in "key: value" lines:
    #   ref: refs/remotes/origin/latest   the remote-tracking ref of that sync (absent for a digest)
    #   bundle: sha256:...                the manifest of the bundle synced with
    #   base: sha256:...                  what the worktree holds of it: the same manifest, or a tree
    #                                     mixing it with the older base after a pull limited to some paths
    #   remote: oci:/abs/path             where it came from
    # It is kept apart from refs/remotes/, which `fetch` moves without touching the worktree.
    def head_info(self) -> dict[str, str]:
        try:
            text = (self.dot / "HEAD").read_text()
        except FileNotFoundError:
            return {}
        info = {}
        for line in text.splitlines():
            k, sep, v = line.partition(":")
            if sep and k.strip() in ("ref", "bundle", "base", "remote", "insecure"):
                info[k.strip()] = v.strip()
        if "base" not in info and "ref" in info:  # the one-line form: the ref is the base
            try:
                d = self.read(info["ref"])
            except UsageError:
                d = None
            if d:
                info["base"] = d
        if "bundle" not in info and "base" in info:
            info["bundle"] = info["base"]
        return info

    def head(self) -> str | None:
        return self.head_info().get("ref")

    def set_head(self, ref: str | None, base: str, remote: str | None = None, bundle: str | None = None,
                 insecure: bool = False) -> None:
        lines = []
        if ref is not None:
            lines.append(f"ref: {check_ref_path(ref)}")
        lines.append(f"bundle: {dg.parse_digest(bundle or base)}")
        lines.append(f"base: {dg.parse_digest(base)}")
        if remote is not None:
            lines.append(f"remote: {remote}")
            if insecure:
                lines.append("insecure: true")  # the sync used --insecure (plain HTTP)
        atomic_write_bytes(self.dot / "HEAD", ("\n".join(lines) + "\n").encode())

    def base_digest(self) -> str | None:
        b = self.head_info().get("base")
        return dg.parse_digest(b) if b else None

    def bundle_digest(self) -> str | None:
        b = self.head_info().get("bundle")
        return dg.parse_digest(b) if b else None

    def last_synced(self, ref: str) -> str | None:
        """The digest ``ref`` had at the last push or pull (fetches do not count)."""
        for e in reversed(self.read_log()):
            if e["ref"] == ref and e["action"] in ("push", "pull"):
                return e["new"]
        return None

    # -- reflog --------------------------------------------------------------------------
    def log(self, action: str, ref: str, old: str | None, new: str, message: str = "") -> None:
        logs = self.dot / "logs"
        logs.mkdir(exist_ok=True)
        line = f"{old or '-'} {new} {int(time.time())} {action} {ref}\t{message}\n"
        with open(logs / "HEAD", "a", encoding="utf-8") as f:
            f.write(line)

    def read_log(self) -> list[dict]:
        try:
            lines = (self.dot / "logs" / "HEAD").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            head, _, msg = line.partition("\t")
            parts = head.split(" ")
            if len(parts) != 5:
                continue
            old, new, ts, action, ref = parts
            out.append({"old": None if old == "-" else old, "new": new, "time": int(ts), "action": action, "ref": ref, "message": msg})
        return out
