"""Registry credentials: docker's ``config.json``, docker credential helpers, and the environment.

The store is docker's own file, ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``):
``mops login`` writes the ``auths`` entry docker writes (``{"auth": base64("user:password")}``), so
``docker login`` and ``mops login`` each see the other's credentials and there is one file to protect.
The file is rewritten atomically with mode 0600 and every other key in it is kept as it was.

Lookup order for a registry host (the first that answers wins):

1. ``MOPS_REGISTRY_USERNAME`` + ``MOPS_REGISTRY_PASSWORD`` (both set; for CI and workers);
2. ``credHelpers[host]`` in config.json → ``docker-credential-<helper> get``;
3. ``auths`` in config.json (keys ``host``, ``https://host``, ``http://host``, ``https://host/v1/``…);
4. ``credsStore`` in config.json → ``docker-credential-<store> get``;
5. anonymous.

Nothing here prints or logs a secret; ``Credentials.__repr__`` hides the password.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import UsageError

ENV_USERNAME = "MOPS_REGISTRY_USERNAME"
ENV_PASSWORD = "MOPS_REGISTRY_PASSWORD"
_DOCKER_HUB = "https://index.docker.io/v1/"
_DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    #: an OAuth2 refresh token (docker's ``identitytoken``), exchanged at the token realm for access tokens
    identity_token: str | None = field(default=None, repr=False)
    #: where they came from, for messages: "environment", "config.json", "helper <name>"
    source: str = ""

    def __repr__(self) -> str:  # never show the secret, whatever prints this object
        return f"Credentials(username={self.username!r}, source={self.source!r})"


def config_dir() -> Path:
    d = os.environ.get("DOCKER_CONFIG")
    return Path(d).expanduser() if d else Path.home() / ".docker"


def config_path() -> Path:
    return config_dir() / "config.json"


def normalize_host(registry: str) -> str:
    """``https://Ghcr.io/v2/`` → ``ghcr.io``; ``docker.io`` and its aliases → docker's hub key."""
    text = registry.strip()
    if "://" in text:
        text = urlsplit(text).netloc or text
    text = text.split("/", 1)[0].lower()
    if not text:
        raise UsageError(f"malformed registry {registry!r}: expected host[:port], e.g. ghcr.io or localhost:5000")
    return text


def _store_key(host: str) -> str:
    return _DOCKER_HUB if host in _DOCKER_HUB_ALIASES else host


def _read_config(path: Path | None = None) -> dict:
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise UsageError(f"{path} is not valid JSON", hint="fix or move the file aside, then run mops login again") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path} is not a JSON object", hint="fix or move the file aside, then run mops login again")
    return doc


def _matching_auth(auths: dict, host: str) -> dict | None:
    want = _store_key(host)
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            continue
        k = key.strip()
        if "://" in k:
            k = urlsplit(k).netloc
        k = k.split("/", 1)[0].lower()
        if k == want or _store_key(k) == want or key == want:
            return entry
    return None


def _decode_entry(entry: dict, path: Path) -> Credentials | None:
    user = entry.get("username") or ""
    password = entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(entry["auth"], validate=False).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise UsageError(f"{path}: an 'auth' entry is not base64 of user:password",
                             hint="run mops login REGISTRY again") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise UsageError(f"{path}: an 'auth' entry is not base64 of user:password", hint="run mops login REGISTRY again")
    token = entry.get("identitytoken") or None
    if not user and not token:
        return None
    return Credentials(user, password, token, "config.json")


def _from_helper(helper: str, host: str) -> Credentials | None:
    """Ask ``docker-credential-<helper> get``; a missing helper or an unknown server is just 'no credentials'."""
    server = _store_key(host)
    try:
        p = subprocess.run([f"docker-credential-{helper}", "get"], input=server.encode(), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    try:
        doc = json.loads(p.stdout)
        user, secret = doc.get("Username") or "", doc.get("Secret") or ""
    except (ValueError, AttributeError):
        return None
    if not secret:
        return None
    if user == "<token>":  # docker's convention for an identity token
        return Credentials("", "", secret, f"helper {helper}")
    return Credentials(user, secret, None, f"helper {helper}")


def lookup(registry: str) -> Credentials | None:
    """Credentials for ``registry`` (host[:port]), or None for anonymous access."""
    host = normalize_host(registry)
    user, password = os.environ.get(ENV_USERNAME), os.environ.get(ENV_PASSWORD)
    if user and password is not None:
        return Credentials(user, password, None, "environment")
    path = config_path()
    doc = _read_config(path)
    helpers = doc.get("credHelpers") if isinstance(doc.get("credHelpers"), dict) else {}
    if host in helpers:
        found = _from_helper(str(helpers[host]), host)
        if found:
            return found
    auths = doc.get("auths") if isinstance(doc.get("auths"), dict) else {}
    entry = _matching_auth(auths, host)
    if entry is not None:
        found = _decode_entry(entry, path)
        if found:
            return found
    if isinstance(doc.get("credsStore"), str) and doc["credsStore"]:
        return _from_helper(doc["credsStore"], host)
    return None


def _write_config(doc: dict, path: Path) -> None:
    from .fsutil import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # the temp file is created 0600 and stays so: the secret is never readable by others
    atomic_write_bytes(path, (json.dumps(doc, indent="\t") + "\n").encode("utf-8"), mode=0o600)


def store(registry: str, username: str, password: str) -> Path:
    """Write ``auths[host]`` into config.json (mode 0600); returns the file written."""
    if ":" in username:
        raise UsageError(f"user name {username!r} contains ':', which docker's auth format cannot store")
    host = normalize_host(registry)
    path = config_path()
    doc = _read_config(path)
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    for key in [k for k in auths if _matching_auth({k: auths[k]}, host) is not None]:
        del auths[key]  # one entry per registry, whatever spelling docker used before
    auths[_store_key(host)] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode("ascii")}
    doc["auths"] = auths
    _write_config(doc, path)
    return path


def erase(registry: str) -> bool:
    """Remove the registry's entries from config.json; True if there was one."""
    host = normalize_host(registry)
    path = config_path()
    doc = _read_config(path)
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        return False
    keys = [k for k in auths if _matching_auth({k: auths[k]}, host) is not None]
    if not keys:
        return False
    for k in keys:
        del auths[k]
    _write_config(doc, path)
    return True
