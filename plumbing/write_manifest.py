"""mops write-manifest: the OCI manifest (SPEC §4) for a bundle config; prints its digest."""

from __future__ import annotations

import click


def parse_annotations(pairs: tuple[str, ...]) -> dict[str, str]:
    from mops.errors import UsageError

    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise UsageError(f"malformed annotation {p!r}: use KEY=VALUE")
        out[k] = v
    return out


def write_manifest(repo, tree: str, annotations: dict[str, str] | None = None) -> str:
    from mops.revs import resolve_local
    from mops.sync import write_manifest as _write

    return _write(repo, resolve_local(repo, tree), annotations)


@click.command("write-manifest")
@click.option("--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Add a manifest annotation (e.g. org.opencontainers.image.created=...). None by default.")
@click.argument("tree")
def cli(annotations, tree):
    """Write the OCI manifest for bundle config TREE into the object store; print its digest.

    The manifest carries no timestamp unless you add one, so the same tree
    always gives the same digest.

    \b
    Example:
      manifest=$(mops write-manifest "$(mops write-tree)")
    """
    from mops.ui import open_repo

    click.echo(write_manifest(open_repo(), tree, parse_annotations(annotations)))
