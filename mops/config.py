"""``.modelops-bundle/config.yaml``: remotes, storage policy and settings, validated.

Every key is declared in ``SCHEMA``; an unknown key or a value of the wrong shape is an error
(exit 2) naming the key and what it accepts.  Secrets never live here: credentials come from the
credential store (``mops login``) or each store's standard environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """``50MiB``, ``50M``, ``1.5G``, ``4096`` → bytes.  K/M/G mean binary units, as git does."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a size (use bytes or a K/M/G/KiB/MiB/GiB suffix)")
    n, unit = float(m.group(1)), m.group(2).upper()
    return int(n * (1024 ** " KMGT".index(unit or " ")))


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def parse_positive_float(text: str | float) -> float:
    v = float(text)
    if v <= 0:
        raise ValueError("must be greater than 0")
    return v


def parse_positive_int(text: str | int) -> int:
    v = int(text)
    if v <= 0:
        raise ValueError("must be greater than 0")
    return v


def parse_choice(*choices: str) -> Callable[[str], str]:
    def f(text: str) -> str:
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return f


def parse_storage_url(text: str) -> str:
    t = str(text).strip()
    if "?" in t or "#" in t:
        raise ValueError("must not contain a query string (credentials come from the environment)")
    scheme, sep, rest = t.partition("://")
    if not sep:
        raise ValueError("must be file:///path, s3://bucket/prefix, az://container/prefix or gs://bucket/prefix")
    if scheme not in ("file", "s3", "az", "abfs", "gs", "gcs", "memory"):
        raise ValueError(f"unsupported scheme {scheme!r} (file, s3, az, abfs, gs)")
    if "@" in rest.split("/", 1)[0]:
        raise ValueError("must not embed credentials (user:secret@host); use the environment")
    if scheme == "file" and not rest.startswith("/"):
        raise ValueError("a file store needs an absolute path: file:///DIR")
    if scheme not in ("file", "memory") and not rest.split("/", 1)[0]:
        raise ValueError("names no bucket or container")
    if any(c.isspace() for c in t):
        raise ValueError("must not contain whitespace")
    return t.rstrip("/")


def parse_store_option(text: Any) -> str:
    """A ``storage.options.*`` value: any non-secret text, but never a URL carrying credentials."""
    t = str(text)
    if "://" in t and ("@" in t.split("://", 1)[1].split("/", 1)[0] or "?" in t):
        raise ValueError("must not embed credentials or a query string; use the store's environment variables")
    return t


def _remote_ref(text: Any) -> str:
    """host[:port]/repository or oci:PATH, checked as every command will read it."""
    from .errors import MopsError
    from .reference import parse_remote

    try:
        parse_remote(str(text), "/")
    except MopsError as e:
        raise ValueError(e.message) from None
    return str(text)


def _str(text: Any) -> str:
    return str(text)


def _patterns(values: Any) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("must be a list of patterns")
    return list(values)


@dataclass(frozen=True)
class Key:
    parse: Callable[[Any], Any]
    default: Any
    help: str
    is_list: bool = False


SCHEMA: dict[str, Key] = {
    "core.big_file_threshold": Key(parse_size, 16 * 1024 * 1024, "files this large are not copied into the object store on add"),
    "storage.url": Key(parse_storage_url, None, "external object store for large files"),
    "storage.threshold": Key(parse_size, 50 * 1024 * 1024, "files of at least this size go to the external store"),
    "storage.external": Key(_patterns, [], "patterns always sent to the external store", True),
    "storage.registry": Key(_patterns, [], "patterns always kept in the registry (wins over storage.external)", True),
    "storage.mode": Key(parse_choice("auto", "registry-only", "external-only"), "auto", "auto, registry-only or external-only"),
    "remote.timeout": Key(parse_positive_float, 60.0, "seconds of retries before a registry counts as unavailable"),
    "remote.concurrency": Key(parse_positive_int, 4, "parallel blob transfers"),
    "remote.chunk_size": Key(parse_size, 64 * 1024 * 1024, "blobs above this size upload in chunks"),
    "remote.insecure": Key(parse_bool, False, "allow plain HTTP to hosts other than localhost"),
    "cache.dir": Key(_str, None, "shared cache directory (default $MOPS_CACHE or $XDG_CACHE_HOME/mops)"),
    "cache.max_size": Key(parse_size, None, "mops gc --cache trims the shared cache to this size"),
}
# key families whose last component is free
PREFIX_KEYS = {
    "storage.options.": Key(parse_store_option, None, "a non-secret fsspec option, e.g. endpoint_url"),
    "remotes.": Key(lambda v: _remote_ref(v), None, "a remote's reference (mops remote add)"),
    "roles.": Key(_patterns, [], "patterns of files in the role", True),
}
_SECRETISH = re.compile(r"(secret|password|passwd|token|key|credential|sas|connection)", re.IGNORECASE)


def key_spec(key: str) -> Key:
    if key in SCHEMA:
        return SCHEMA[key]
    for prefix, spec in PREFIX_KEYS.items():
        rest = key[len(prefix) :]
        if key.startswith(prefix) and rest and re.match(r"^[A-Za-z0-9_.-]+$", rest) and "." not in rest:
            if prefix == "storage.options." and _SECRETISH.search(rest):
                raise UsageError(
                    f"config key {key!r} looks like a secret; secrets are never stored in config.yaml",
                    hint="set the store's standard environment variable instead (see docs/STORAGE.md)",
                )
            return spec
    known = ", ".join(sorted(SCHEMA) + [p + "<name>" for p in PREFIX_KEYS])
    raise UsageError(f"unknown config key {key!r}", hint=f"known keys: {known}")


def validate(key: str, value: Any) -> Any:
    spec = key_spec(key)
    try:
        return spec.parse(value)
    except (ValueError, TypeError) as e:
        from .external import redact  # a refused value may be a secret: never echo one

        raise UsageError(f"invalid value for {key}: {redact(repr(value))} {e}") from None


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        full = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, full + "."))
        else:
            out[full] = v
    return out


class Config:
    """Flat view (``storage.url`` → value) of config.yaml, validated on load and on set."""

    def __init__(self, path: str | os.PathLike, values: dict[str, Any] | None = None):
        self.path = Path(path)
        self.values: dict[str, Any] = values or {}

    @classmethod
    def load(cls, path: str | os.PathLike) -> Config:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(p)
        if not text.strip() or text.strip() == "{}":  # what init writes: no need to load the YAML parser
            return cls(p)
        import yaml

        try:
            tree = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise UsageError(f"{p} is not valid YAML: {e}", hint="fix it by hand or run mops config list") from None
        if not isinstance(tree, dict):
            raise UsageError(f"{p} must hold a mapping of settings")
        values = {}
        for k, v in _flatten(tree).items():
            try:
                values[k] = validate(k, v)
            except UsageError as e:
                raise UsageError(f"{p}: {e.message}", hint=e.hint) from None
        return cls(p, values)

    def get(self, key: str, default: Any = ...) -> Any:
        if key in self.values:
            return self.values[key]
        if default is not ...:
            return default
        spec = key_spec(key)
        return list(spec.default) if isinstance(spec.default, list) else spec.default

    def section(self, prefix: str) -> dict[str, Any]:
        """``section("remotes.")`` → {"origin": "..."}"""
        return {k[len(prefix) :]: v for k, v in self.values.items() if k.startswith(prefix)}

    def set(self, key: str, value: Any) -> Any:
        v = validate(key, value)
        self.values[key] = v
        return v

    def unset(self, key: str) -> bool:
        key_spec(key)
        return self.values.pop(key, None) is not None

    def to_tree(self) -> dict:
        tree: dict = {}
        for key in sorted(self.values):
            parts = key.split(".")
            if key.startswith("storage.options."):
                parts = ["storage", "options", key[len("storage.options.") :]]
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = self.values[key]
        return tree

    def save(self) -> None:
        import yaml

        from .fsutil import atomic_write_bytes

        text = yaml.safe_dump(self.to_tree(), sort_keys=True, default_flow_style=False)
        atomic_write_bytes(self.path, text.encode("utf-8"), mode=0o600)
