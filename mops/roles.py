"""Roles (SPEC §4): named sets of path patterns recorded in the bundle config.

``roles: {code: ["*.py"], training: ["data/", "*.py"]}``.  With no ``--role``, the role named
``default`` applies when the bundle has one; with no roles at all every file belongs to the bundle's
one implicit role.  An unknown role is a usage error (exit 2) listing the roles there are.
Patterns are gitignore-style (pathspec), matched against the file's bundle path.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import UsageError

DEFAULT_ROLE = "default"


def role_names(tree) -> list[str]:
    return sorted((tree.extra.get("roles") or {}).keys())


def role_filter(tree, role: str | None) -> Callable[[str], bool] | None:
    """A predicate selecting the files of ``role`` (None: every file is selected)."""
    roles = tree.extra.get("roles") or {}
    if role is None:
        if DEFAULT_ROLE not in roles:
            return None
        role = DEFAULT_ROLE
    if role not in roles:
        have = ", ".join(sorted(roles)) or "none (every file belongs to the bundle's one implicit role)"
        raise UsageError(f"unknown role {role!r}; roles in this bundle: {have}",
                         hint="name one of them with --role, or see them with mops show REF")
    from pathspec import GitIgnoreSpec

    spec = GitIgnoreSpec.from_lines(roles[role])
    return spec.match_file


def select(tree, role: str | None) -> list:
    """The FileRecords of ``role``, sorted by path."""
    ok = role_filter(tree, role)
    return [tree.files[p] for p in sorted(tree.files) if ok is None or ok(p)]
