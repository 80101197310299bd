"""mops plan: where each staged file would go on push (registry or external store) and why."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field

import click


@dataclass
class PlannedFile:
    path: str
    size: int
    digest: str
    storage: str  # registry | external
    destination: str | None  # "registry", the store URL, or None when storage.url is not set
    uri: str | None  # the object's URI in the store (external files)
    rule: str  # what decided it (mops.policy.StoragePolicy.decide)


@dataclass
class Plan:
    mode: str
    threshold: int
    store: str | None
    files: list[PlannedFile] = field(default_factory=list)

    def total(self, storage: str) -> tuple[int, int]:
        sel = [f for f in self.files if f.storage == storage]
        return len(sel), sum(f.size for f in sel)

    @property
    def unplaceable(self) -> list[PlannedFile]:
        """External files with no store to go to: push would refuse them (exit 2)."""
        return [f for f in self.files if f.storage == "external" and f.uri is None]


def plan(repo) -> Plan:
    """The storage decision for every staged file: the same one ``write-tree`` and ``push`` make."""
    from mops.policy import StoragePolicy

    policy = StoragePolicy.from_config(repo.config)
    out = Plan(policy.mode, policy.threshold, policy.url)
    for path, e in repo.load_index().items():
        dec = policy.decide(path, e.size)
        uri = policy.uri_for(e.digest) if dec.storage == "external" else None
        dest = "registry" if dec.storage == "registry" else policy.url
        out.files.append(PlannedFile(path, e.size, e.digest, dec.storage, dest, uri, dec.rule))
    return out


@click.command("plan")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def cli(as_json):
    """Show where each staged file goes on push, its size, and the rule that decided it.

    A file goes to the external store (storage.url) when a storage.external
    pattern matches it, or when its size is at least storage.threshold;
    a storage.registry pattern wins over both; storage.mode registry-only or
    external-only overrides everything.  Nothing is uploaded or read.

    \b
    Example:
      mops config set storage.url s3://my-bucket/models
      mops config set storage.threshold 100MiB
      mops plan
      mops plan --json | jq -r '.files[] | select(.storage=="external") | .path'
    """
    from mops.ui import emit_json, human_size, open_repo, summary

    p = plan(open_repo())
    if as_json:
        n_reg, b_reg = p.total("registry")
        n_ext, b_ext = p.total("external")
        emit_json("plan", {
            "mode": p.mode,
            "threshold": p.threshold,
            "store": p.store,
            "files": [asdict(f) for f in p.files],
            "totals": {"registry": {"files": n_reg, "bytes": b_reg}, "external": {"files": n_ext, "bytes": b_ext}},
            "problems": [f"{f.path}: goes to an external store but storage.url is not set" for f in p.unplaceable],
        })
        return
    shown = [f.destination or "(storage.url unset)" for f in p.files]
    width = max((len(d) for d in shown), default=8)
    swidth = max((len(str(f.size)) for f in p.files), default=1)
    for f, dest in zip(p.files, shown, strict=True):
        sys.stdout.write(f"{dest:<{width}}  {f.size:>{swidth}}  {f.path}  ({f.rule})\n")
    n_reg, b_reg = p.total("registry")
    n_ext, b_ext = p.total("external")
    summary(f"{n_reg} files ({human_size(b_reg)}) to the registry, {n_ext} files ({human_size(b_ext)}) to "
            f"{p.store or 'an external store'}")
    if p.unplaceable:
        from mops.ui import info

        info(f"warning: {len(p.unplaceable)} file(s) go to an external store but storage.url is not set; push would refuse them")
        info("hint: mops config set storage.url s3://BUCKET/PREFIX (or file:///DIR), or raise storage.threshold")
