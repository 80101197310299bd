"""The bundle format (SPEC §4): the config ("tree") and the OCI manifest, built and checked.

Both are canonical JSON (SPEC §3) so the same staged content gives the same digests on any
machine, any day: no timestamps, user or host names; files sorted by path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import digest as dg
from .errors import UnsafePath, UsageError

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
ARTIFACT_TYPE = "application/vnd.modelops.bundle.v1"
CONFIG_MEDIA_TYPE = "application/vnd.modelops.bundle.config.v1+json"
# ORAS's convention for files pushed untarred; a stock `oras pull` writes each layer to its title.
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BYTES = b"{}"
EMPTY_DIGEST = dg.of_bytes(EMPTY_BYTES)
TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"

TREE_SCHEMA_VERSION = 1
OPTIONAL_TREE_KEYS = ("roles", "models", "targets", "environment")


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- path safety -------------------------------------------------------------------------
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")


def check_bundle_path(path: Any) -> str:
    """A path from a bundle may only name a file strictly inside the destination.

    Refused: empty, absolute, drive-lettered, backslashes, ``.``/``..``/empty components,
    control characters, and anything under ``.modelops-bundle/``.
    """
    if not isinstance(path, str) or not path:
        raise UnsafePath(f"unsafe path in bundle: {path!r} (empty)")
    if path.startswith("/") or _DRIVE_RE.match(path):
        raise UnsafePath(f"unsafe path in bundle: {path!r} (absolute)")
    if "\\" in path:
        raise UnsafePath(f"unsafe path in bundle: {path!r} (backslash)")
    if _CTRL_RE.search(path):
        raise UnsafePath(f"unsafe path in bundle: {path!r} (control character)")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath(f"unsafe path in bundle: {path!r} (empty, '.' or '..' component)")
    if parts[0] == ".modelops-bundle":
        raise UnsafePath(f"unsafe path in bundle: {path!r} (inside .modelops-bundle/)")
    return path


# -- the tree (bundle config) ------------------------------------------------------------
@dataclass(slots=True)
class FileRecord:
    path: str
    digest: str
    size: int
    mode: str = "0644"
    storage: str = "registry"
    uri: str | None = None

    def to_json(self) -> dict:
        d = {"path": self.path, "digest": self.digest, "size": self.size, "mode": self.mode, "storage": self.storage}
        if self.uri is not None:
            d["uri"] = self.uri
        return d


@dataclass
class Tree:
    files: dict[str, FileRecord] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # roles, models, targets, environment

    def to_json(self) -> dict:
        obj: dict[str, Any] = {"schemaVersion": TREE_SCHEMA_VERSION, "files": [self.files[p].to_json() for p in sorted(self.files)]}
        for k in OPTIONAL_TREE_KEYS:
            if self.extra.get(k):
                obj[k] = self.extra[k]
        return obj

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def registry_files(self) -> list[FileRecord]:
        return [self.files[p] for p in sorted(self.files) if self.files[p].storage == "registry"]

    def total_size(self) -> int:
        return sum(f.size for f in self.files.values())


def parse_tree(data: bytes, where: str = "bundle config") -> Tree:
    """Parse and check a bundle config; anything malformed or unsafe exits 2 before any write."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"malformed {where}: not JSON ({e})") from None
    if not isinstance(obj, dict) or obj.get("schemaVersion") != TREE_SCHEMA_VERSION or not isinstance(obj.get("files"), list):
        raise UsageError(f"malformed {where}: expected {{schemaVersion: 1, files: [...]}}")
    files: dict[str, FileRecord] = {}
    for rec in obj["files"]:
        if not isinstance(rec, dict):
            raise UsageError(f"malformed {where}: a file record is not an object")
        path = check_bundle_path(rec.get("path"))
        if path in files:
            raise UsageError(f"malformed {where}: {path!r} listed twice")
        digest = rec.get("digest")
        if not isinstance(digest, str) or not dg.is_digest(digest):
            raise UsageError(f"malformed {where}: {path!r} has a bad digest {digest!r}")
        size = rec.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise UsageError(f"malformed {where}: {path!r} has a bad size {size!r}")
        mode = rec.get("mode", "0644")
        if mode not in ("0644", "0755"):
            raise UsageError(f"malformed {where}: {path!r} has mode {mode!r} (0644 or 0755)")
        storage = rec.get("storage", "registry")
        if storage not in ("registry", "external"):
            raise UsageError(f"malformed {where}: {path!r} has storage {storage!r}")
        uri = rec.get("uri")
        if storage == "external" and not isinstance(uri, str):
            raise UsageError(f"malformed {where}: external file {path!r} has no uri")
        files[path] = FileRecord(path, digest, size, mode, storage, uri)
    # a file may not also be a directory of another file (a/b and a/b/c)
    dirs: set[str] = set()
    for p in files:
        cut = p.rfind("/")
        while cut > 0:
            d = p[:cut]
            if d in dirs:
                break
            dirs.add(d)
            cut = p.rfind("/", 0, cut)
    clash = dirs & files.keys()
    if clash:
        raise UnsafePath(f"unsafe {where}: {min(clash)!r} is both a file and a directory")
    extra = {k: obj[k] for k in OPTIONAL_TREE_KEYS if k in obj}
    return Tree(files, extra)


# -- the manifest ------------------------------------------------------------------------
def build_manifest(tree: Tree, config_digest: str, config_size: int, annotations: dict[str, str] | None = None) -> bytes:
    layers = [
        {"mediaType": LAYER_MEDIA_TYPE, "digest": f.digest, "size": f.size, "annotations": {TITLE: f.path}}
        for f in tree.registry_files()
    ]
    if not layers:
        layers = [{"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": len(EMPTY_BYTES)}]
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": layers,
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    return canonical_json(manifest)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    title: str | None = None


@dataclass
class Manifest:
    config: Descriptor
    layers: list[Descriptor]
    artifact_type: str | None
    raw: dict

    def blobs(self) -> list[Descriptor]:
        return [self.config, *self.layers]


def _descriptor(d: Any, where: str) -> Descriptor:
    if not isinstance(d, dict):
        raise UsageError(f"malformed {where}: descriptor is not an object")
    digest, size, mt = d.get("digest"), d.get("size"), d.get("mediaType")
    if not isinstance(digest, str) or not dg.is_digest(digest):
        raise UsageError(f"malformed {where}: bad digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UsageError(f"malformed {where}: bad size {size!r}")
    title = (d.get("annotations") or {}).get(TITLE)
    return Descriptor(mt if isinstance(mt, str) else "", digest, size, title)


def parse_manifest(data: bytes, where: str = "manifest") -> Manifest:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"malformed {where}: not JSON") from None
    if not isinstance(obj, dict) or obj.get("schemaVersion") != 2:
        raise UsageError(f"malformed {where}: not an OCI image manifest (schemaVersion 2)")
    mt = obj.get("mediaType", MANIFEST_MEDIA_TYPE)
    if mt not in (MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE):
        raise UsageError(f"malformed {where}: media type {mt!r} is not an image manifest")
    layers = obj.get("layers")
    if not isinstance(layers, list):
        raise UsageError(f"malformed {where}: no layers")
    return Manifest(_descriptor(obj.get("config"), where), [_descriptor(x, where) for x in layers], obj.get("artifactType"), obj)


def is_bundle_manifest(m: Manifest) -> bool:
    return m.config.media_type == CONFIG_MEDIA_TYPE
