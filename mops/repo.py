"""The project: its root, ``.modelops-bundle/`` and the pieces inside (objects, index, refs, config)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from .errors import NotAProject, UnsafePath
from .ignore import DOT_DIR

INDEX = "index"


class Repository:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.dot = self.root / DOT_DIR

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> Repository:
        """Walk up from ``start`` (default: the current directory) to the project root."""
        here = Path(start if start is not None else os.getcwd()).resolve()
        for d in (here, *here.parents):
            if (d / DOT_DIR / "objects").is_dir():
                return cls(d)
        raise NotAProject(str(here))

    @cached_property
    def objects(self):
        from .objects import ObjectStore

        return ObjectStore(self.dot / "objects")

    @cached_property
    def refs(self):
        from .refs import Refs

        return Refs(self.dot)

    @cached_property
    def config(self):
        from .config import Config

        return Config.load(self.dot / "config.yaml")

    @cached_property
    def ignore(self):
        from .ignore import IgnoreRules

        return IgnoreRules(self.root)

    @property
    def index_path(self) -> Path:
        return self.dot / INDEX

    def load_index(self):
        from .index import Index

        return Index.load(self.index_path)

    def lock_index(self):
        from .index import IndexLock

        return IndexLock(self.index_path)

    # -- paths ---------------------------------------------------------------------------
    def relpath(self, path: str | os.PathLike, cwd: str | os.PathLike | None = None) -> str:
        """A user-given path (relative to ``cwd``) as a project-relative POSIX path.

        Refuses (exit 2) anything that resolves outside the project or into ``.modelops-bundle/``.
        Symlinked directories are not resolved: the path is normalised lexically, as git does.
        """
        base = Path(cwd) if cwd is not None else Path.cwd()
        p = Path(os.path.normpath(os.path.join(os.path.abspath(base), os.fspath(path))))
        root = Path(os.path.normpath(self.root))
        try:
            rel = p.relative_to(root)
        except ValueError:
            # the cwd may be reached through a symlink: try the resolved form too
            try:
                rel = p.resolve().relative_to(self.root)
            except ValueError:
                raise UnsafePath(f"{path}: outside the project at {self.root}") from None
        s = rel.as_posix()
        if s == ".":
            return ""
        if s == DOT_DIR or s.startswith(DOT_DIR + "/"):
            raise UnsafePath(f"{path}: inside {DOT_DIR}/, which mops manages itself")
        return s

    def abspath(self, rel: str) -> Path:
        return self.root / rel

    def fspath(self, rel: str) -> str:
        """``abspath`` as a plain string, for hot loops (pathlib costs microseconds per call)."""
        return f"{self._root_s}/{rel}" if rel else self._root_s

    @cached_property
    def _root_s(self) -> str:
        return os.fspath(self.root)

    # -- trees and the sync base -----------------------------------------------------------
    def read_tree(self, digest: str):
        """The bundle config ``digest`` names (a tree, or a manifest whose config is one)."""
        from .bundle import parse_manifest, parse_tree
        from .objects import kind_of_bytes

        data = self.objects.read(digest)
        if kind_of_bytes(data) == "manifest":
            m = parse_manifest(data, f"manifest {digest}")
            data = self.objects.read(m.config.digest)
        return parse_tree(data, f"bundle config {digest}")

    def base_tree(self):
        """The tree of the bundle last synced (HEAD's ref), or None before the first push/pull."""
        d = self.refs.base_digest()
        if d is None or not self.objects.has(d):
            return None
        return self.read_tree(d)
