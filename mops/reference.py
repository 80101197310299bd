"""Remotes and references (SPEC §4).

A *remote* is ``oci:PATH`` (an OCI image layout directory) or ``host[:port]/repository`` (a registry).
A *reference* is ``REMOTE:TAG``, ``REMOTE@sha256:<hex>``, or a bare tag or digest on the default remote.
A tag never contains ``/``, so in ``oci:PATH:TAG`` the tag is what follows the last ``:``.
Configured remote names (``mops remote add NAME REF``) may stand for the remote part.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from . import digest as dg
from .errors import UsageError

DEFAULT_REMOTE = "origin"
DEFAULT_TAG = "latest"
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(frozen=True)
class Remote:
    kind: str  # "oci" | "registry"
    location: str  # absolute directory (oci) or host[:port] (registry)
    repository: str = ""  # registry repository path

    @property
    def url(self) -> str:
        return f"oci:{self.location}" if self.kind == "oci" else f"{self.location}/{self.repository}"

    def __str__(self) -> str:
        return self.url

    @property
    def is_local_host(self) -> bool:
        host = self.location.rsplit(":", 1)[0] if not self.location.startswith("[") else self.location.split("]")[0] + "]"
        return host in LOCAL_HOSTS

    def ref_name(self) -> str:
        """A name usable under refs/remotes/ for a remote that was given by URL, not by name."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.url).strip("_.-")[:40] or "remote"
        return f"{slug}-{hashlib.sha256(self.url.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Reference:
    remote: Remote
    tag: str | None = None
    digest: str | None = None

    @property
    def selector(self) -> str:
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        if self.digest:
            return f"{self.remote.url}@{self.digest}"
        return f"{self.remote.url}:{self.tag or DEFAULT_TAG}"


def check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise UsageError(f"invalid tag {tag!r}: letters, digits, '_', '.', '-' (at most 128; no '/' or ':')")
    return tag


def _looks_like_host(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost" or first.startswith("[")


def parse_remote(text: str, base_dir: str | None = None) -> Remote:
    """``oci:PATH`` or ``host[:port]/repository`` (no tag, no digest)."""
    if not text:
        raise UsageError("empty remote")
    if text.startswith("oci:"):
        path = text[4:]
        if not path:
            raise UsageError("oci: remote needs a directory, e.g. oci:./bundles")
        return Remote("oci", os.path.abspath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(path))))
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme not in ("https",):
            raise UsageError(f"malformed remote {text!r}: use host[:port]/repository (HTTPS; plain HTTP with --insecure "
                             "or remote.insecure) or oci:PATH")
        text = rest
    first, _, repo = text.partition("/")
    if "@" in first:
        raise UsageError("a remote must not carry credentials (user:password@host): they would be stored and shown",
                         hint="run mops login HOST, or set MOPS_REGISTRY_USERNAME and MOPS_REGISTRY_PASSWORD")
    if not repo or not _looks_like_host(first):
        raise UsageError(
            f"malformed remote {text!r}: expected host[:port]/repository (e.g. ghcr.io/acme/model) or oci:PATH",
        )
    if not _REPO_RE.match(repo):
        raise UsageError(f"malformed repository {repo!r} in {text!r}: lowercase letters, digits, '.', '_', '-', '/'")
    return Remote("registry", first.lower(), repo)


def split_reference(text: str) -> tuple[str, str | None, str | None]:
    """Split ``X:TAG`` / ``X@sha256:...`` into (X, tag, digest) without interpreting X."""
    if "@" in text:
        left, _, d = text.rpartition("@")
        return left, None, dg.parse_digest(d)
    if text.startswith("oci:"):
        body = text[4:]
        if ":" in body:
            path, _, tag = body.rpartition(":")
            if "/" not in tag and path:
                return "oci:" + path, check_tag(tag), None
        return text, None, None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash >= 0:
        return text[:colon], check_tag(text[colon + 1 :]), None
    if colon > 0 and slash < 0 and not _looks_like_host(text[:colon]):
        # NAME:TAG with a configured remote name
        return text[:colon], check_tag(text[colon + 1 :]), None
    return text, None, None


def parse_reference(text: str, remotes: dict[str, str] | None = None, default_remote: str = DEFAULT_REMOTE,
                    base_dir: str | None = None) -> Reference:
    """Any user-given reference → Reference.  ``remotes`` maps configured names to remote URLs."""
    remotes = remotes or {}
    if dg.is_digest(text):
        return Reference(_named_remote(default_remote, remotes, base_dir), None, text)
    left, tag, digest = split_reference(text)
    if left in remotes:
        return Reference(parse_remote(remotes[left], base_dir), tag, digest)
    if left.startswith("oci:") or ("/" in left and _looks_like_host(left.split("/", 1)[0])) or "://" in left:
        return Reference(parse_remote(left), tag, digest)  # typed by the user: relative to the cwd
    if tag is None and digest is None and _TAG_RE.match(text):
        return Reference(_named_remote(default_remote, remotes, base_dir), text, None)
    raise UsageError(f"malformed reference {text!r}", hint="use REMOTE:TAG, REMOTE@sha256:<hex>, a remote name, or a bare tag")


def _named_remote(name: str, remotes: dict[str, str], base_dir: str | None = None) -> Remote:
    if name not in remotes:
        raise UsageError(f"no remote named {name!r}", hint=f"run mops remote add {name} oci:./bundles (or host/repository)")
    return parse_remote(remotes[name], base_dir)


def store_form(text: str, root: str) -> str:
    """How to record a remote the user typed: a relative ``oci:`` path is re-expressed relative to
    the project root (config paths are read from there), whatever directory it was typed in."""
    if not text.startswith("oci:") or os.path.isabs(os.path.expanduser(text[4:])):
        return text
    absolute = os.path.abspath(os.path.expanduser(text[4:]))
    rel = os.path.relpath(absolute, root)
    return "oci:" + (rel if not rel.startswith("..") else absolute)


def is_name(text: str) -> bool:
    return bool(_NAME_RE.match(text))
