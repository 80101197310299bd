"""mops send-bundle: upload what a remote lacks of a bundle, then its manifest; tag it."""

from __future__ import annotations

import click


def send_bundle(repo, remote_text: str, manifest: str, tag: str | None = None) -> str:
    from mops.reference import check_tag
    from mops.remotes import open_target, resolve_remote
    from mops.revs import resolve_local
    from mops.sync import send_bundle as _send

    digest = resolve_local(repo, manifest)
    _name, remote = resolve_remote(repo, remote_text)
    _send(repo, open_target(remote, repo), digest, check_tag(tag) if tag else None)
    return digest


@click.command("send-bundle")
@click.option("--tag", "-t", metavar="T", help="Point tag T at the manifest.")
@click.argument("remote")
@click.argument("manifest")
def cli(tag, remote, manifest):
    """Upload the blobs REMOTE lacks of MANIFEST, then the manifest; print its digest.

    Refs are not updated: that is push's bookkeeping.

    \b
    Example:
      mops send-bundle oci:./bundles "$(mops write-manifest "$(mops write-tree)")" --tag v1
    """
    from mops.ui import open_repo

    click.echo(send_bundle(open_repo(), remote, manifest, tag))
