"""mops ls-layers: a manifest's blobs — digest, size, media type, title — one per line."""

from __future__ import annotations

import sys

import click


def ls_layers(repo, name: str):
    """The manifest's config and layer descriptors, from the object store or a remote reference."""
    from mops import digest as dg
    from mops.bundle import parse_manifest
    from mops.errors import NotFound
    from mops.revs import resolve_local

    try:
        d = resolve_local(repo, name) if repo is not None else None
        if d is not None and repo.objects.has(d):
            return parse_manifest(repo.objects.read(d), f"manifest {d}")
    except NotFound:
        pass
    from mops.remotes import open_target, resolve_reference

    _n, ref = resolve_reference(repo, name)
    digest, data = open_target(ref.remote, repo).resolve(ref.selector)
    if dg.of_bytes(data) != digest:
        from mops.errors import IntegrityError

        raise IntegrityError(f"manifest of {name} does not hash to {digest}")
    return parse_manifest(data, f"manifest {digest}")


@click.command("ls-layers")
@click.option("--no-config", is_flag=True, help="Leave out the config blob.")
@click.option("-z", "nul", is_flag=True, help="End each record with NUL instead of a newline (titles are paths).")
@click.argument("manifest")
def cli(no_config, nul, manifest):
    """List the blobs of MANIFEST (a digest, local ref or remote reference).

    Each line: DIGEST SIZE MEDIA-TYPE TITLE (the config first, then the layers).
    TITLE is a file's path; with -z records end with NUL, so any path is safe.

    \b
    Example:
      mops ls-layers origin/latest
      mops ls-layers oci:./bundles:v1 | awk '{s+=$2} END {print s}'
    """
    from mops.errors import NotAProject
    from mops.ui import open_repo

    try:
        repo = open_repo()
    except NotAProject:
        repo = None
    m = ls_layers(repo, manifest)
    descs = m.layers if no_config else [m.config, *m.layers]
    end = "\0" if nul else "\n"
    for d in descs:
        sys.stdout.write(f"{d.digest} {d.size} {d.media_type} {d.title or '-'}{end}")
