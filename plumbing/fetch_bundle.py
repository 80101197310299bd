"""mops fetch-bundle: download a bundle into the object store; print its manifest digest."""

from __future__ import annotations

import click


def fetch_bundle(repo, remote_text: str, ref: str) -> str:
    from mops import digest as dg
    from mops.reference import check_tag
    from mops.remotes import open_target, resolve_remote
    from mops.sync import fetch_into_store, resolve_bundle

    if not dg.is_digest(ref):
        if ref.startswith("sha256:"):
            dg.parse_digest(ref)  # a malformed digest: exit 2 naming it
        check_tag(ref)
    _name, remote = resolve_remote(repo, remote_text)
    target = open_target(remote, repo)
    digest, _ = resolve_bundle(repo, target, ref)
    fetch_into_store(repo, target, digest)
    return digest


@click.command("fetch-bundle")
@click.argument("remote")
@click.argument("ref")
def cli(remote, ref):
    """Download manifest, config and registry blobs of REF (a tag or digest) from REMOTE
    into the object store, verifying every digest; print the manifest digest.

    Refs and the worktree are not touched.

    \b
    Example:
      m=$(mops fetch-bundle oci:./bundles v1) && mops read-tree "$m" && mops checkout-index -a
    """
    from mops.ui import open_repo

    click.echo(fetch_bundle(open_repo(), remote, ref))
