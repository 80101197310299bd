"""Ignore rules: built-in defaults plus ``.modelopsignore`` at the project root (gitignore syntax).

Patterns are compiled by pathspec.  When no pattern is negated (the usual case) every pattern's
regex is joined into one alternation, so a path is tested with a single ``re.match`` instead of
one per pattern: that keeps the walk of a 100,000-file tree cheap.  With negations the rules are
evaluated by pathspec itself, last match winning, as git does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Container, Iterator
from pathlib import Path

IGNORE_FILE = ".modelopsignore"
DOT_DIR = ".modelops-bundle"

DEFAULT_PATTERNS = (
    ".git/",
    ".hg/",
    ".svn/",
    f"{DOT_DIR}/",
    "__pycache__/",
    "*.pyc",
    "*.pyo",
    ".venv/",
    "venv/",
    "node_modules/",
    ".DS_Store",
    ".ipynb_checkpoints/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".tox/",
    "*.swp",
    "*~",
)


class IgnoreRules:
    def __init__(self, root: str | os.PathLike, extra: list[str] | None = None):
        self.root = Path(root)
        lines = list(DEFAULT_PATTERNS)
        f = self.root / IGNORE_FILE
        if f.is_file():
            lines += f.read_text(encoding="utf-8", errors="replace").splitlines()
        lines += extra or []
        self.lines = lines
        from pathspec import GitIgnoreSpec

        self.spec = GitIgnoreSpec.from_lines(lines)
        pats = [p for p in self.spec.patterns if p.include is not None]
        self._fast = None
        if pats and all(p.include for p in pats):
            joined = "|".join("(?:{})".format(re.sub(r"\(\?P<\w+>", "(?:", p.regex.pattern)) for p in pats)
            self._fast = re.compile(joined)

    def match(self, relpath: str, is_dir: bool = False) -> bool:
        """True when ``relpath`` (POSIX, relative to the root) is ignored."""
        if relpath == DOT_DIR or relpath.startswith(DOT_DIR + "/"):
            return True
        if is_dir:
            relpath += "/"
        if self._fast is not None:
            return self._fast.match(relpath) is not None
        return self.spec.match_file(relpath)

    def matching_pattern(self, relpath: str, is_dir: bool = False) -> str | None:
        """The pattern that decides ``relpath`` (for ``check-ignore -v``), or None."""
        if is_dir:
            relpath += "/"
        found = None
        for line, pat in zip(self.lines, self.spec.patterns, strict=True):
            if pat.include is None:
                continue
            if pat.match_file(relpath) is not None:
                found = line if pat.include else None
        return found


def walk(root: str | os.PathLike, rules: IgnoreRules | None, start: str = "", with_ignored: bool = False,
         tracked: Container[str] = ()) -> Iterator[tuple[str, os.DirEntry, bool]]:
    """Yield ``(relpath, DirEntry, ignored)`` for regular files under ``root/start``.

    Ignored directories are pruned (never entered) unless ``with_ignored``; mops' own directory
    is always pruned.  Symbolic links are not followed and not reported: a bundle holds regular
    files only.  Files in ``tracked`` are not matched against the rules (a tracked file stays
    tracked when it becomes ignored) and are yielded with ``ignored`` False: on a tree of
    100,000 tracked files that saves 100,000 pattern matches.
    """
    root = os.fspath(root)
    stack = [(start, False)]
    while stack:
        rel, parent_ignored = stack.pop()
        full = os.path.join(root, rel) if rel else root
        try:
            it = os.scandir(full)
        except (NotADirectoryError, FileNotFoundError, PermissionError):
            continue
        with it:
            subdirs = []
            for de in it:
                name = de.name
                relpath = f"{rel}/{name}" if rel else name
                try:
                    # follow_symlinks=False: a symbolic link is neither, and is skipped
                    if de.is_file(follow_symlinks=False):
                        if relpath in tracked and not parent_ignored:
                            yield relpath, de, False
                            continue
                        ign = parent_ignored or (rules is not None and rules.match(relpath))
                        if ign and not with_ignored:
                            continue
                        yield relpath, de, ign
                    elif de.is_dir(follow_symlinks=False):
                        if relpath == DOT_DIR:
                            continue
                        ign = parent_ignored or (rules is not None and rules.match(relpath, True))
                        if ign and not with_ignored:
                            continue
                        subdirs.append((relpath, ign))
                except OSError:
                    continue
            stack.extend(reversed(subdirs))
