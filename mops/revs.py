"""Naming objects locally: digests, ``HEAD`` (the sync base) and git-style short ref names."""

from __future__ import annotations

from . import digest as dg
from .errors import NotFound


def resolve_local(repo, name: str) -> str:
    """``sha256:<hex>``, 64 hex digits, ``HEAD``, ``v1``, ``refs/tags/v1``, ``origin/latest`` → digest."""
    if name.startswith("sha256:") or (len(name) == 64 and all(c in "0123456789abcdef" for c in name)):
        return dg.parse_digest(name)  # a malformed digest is a usage error (2), not an unknown ref
    if name == "HEAD":
        d = repo.refs.bundle_digest()  # the bundle synced with (its manifest), even after a partial pull
        if d is None:
            raise NotFound("HEAD names no bundle yet: nothing has been pushed or pulled", hint="run mops push or mops pull")
        return d
    return repo.refs.resolve_short(name)[1]
