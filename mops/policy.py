"""The storage policy (SPEC §4): which staged files go to the registry, which to the external store."""

from __future__ import annotations

from dataclasses import dataclass

from .digest import hex_of


@dataclass(frozen=True)
class Decision:
    storage: str  # "registry" | "external"
    rule: str  # what decided it, for `mops plan`


class StoragePolicy:
    def __init__(self, mode: str = "auto", threshold: int = 50 * 1024 * 1024, external: list[str] | None = None,
                 registry: list[str] | None = None, url: str | None = None):
        self.mode = mode
        self.threshold = threshold
        self.url = url
        self.external_patterns = list(external or [])
        self.registry_patterns = list(registry or [])
        self._ext = self._reg = None
        if self.external_patterns or self.registry_patterns:
            from pathspec import GitIgnoreSpec

            self._ext = GitIgnoreSpec.from_lines(self.external_patterns)
            self._reg = GitIgnoreSpec.from_lines(self.registry_patterns)

    @classmethod
    def from_config(cls, config) -> StoragePolicy:
        return cls(
            mode=config.get("storage.mode"),
            threshold=config.get("storage.threshold"),
            external=config.get("storage.external"),
            registry=config.get("storage.registry"),
            url=config.get("storage.url"),
        )

    def decide(self, path: str, size: int) -> Decision:
        if self.mode == "registry-only":
            return Decision("registry", "storage.mode=registry-only")
        if self.mode == "external-only":
            return Decision("external", "storage.mode=external-only")
        if self._reg is not None and self._reg.match_file(path):
            return Decision("registry", "storage.registry pattern")
        if self._ext is not None and self._ext.match_file(path):
            return Decision("external", "storage.external pattern")
        if size >= self.threshold:
            return Decision("external", f"size >= storage.threshold ({self.threshold} bytes)")
        return Decision("registry", f"size < storage.threshold ({self.threshold} bytes)")

    def uri_for(self, digest: str) -> str | None:
        if not self.url:
            return None
        h = hex_of(digest)
        return f"{self.url}/sha256/{h[:2]}/{h[2:4]}/{h}"
