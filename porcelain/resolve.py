"""mops resolve: the canonical ``repository@sha256:<hex>`` of a reference."""

from __future__ import annotations

import click


def resolve(repo, text: str) -> str:
    from mops.lookup import locate

    return locate(repo, text)[0]


@click.command("resolve")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("ref")
def cli(as_json, ref):
    """Print the canonical repository@sha256:<hex> that REF names right now.

    Works outside a project for full references (REMOTE:TAG, REMOTE@DIGEST).

    \b
    Example:
      mops resolve ghcr.io/acme/sir:v1
      mops resolve origin:latest
    """
    from mops.lookup import find_repo_or_none
    from mops.ui import emit_json

    name = resolve(find_repo_or_none(), ref)
    if as_json:
        emit_json("resolve", {"ref": ref, "resolved": name, "digest": name.rsplit("@", 1)[-1]})
        return
    click.echo(name)
