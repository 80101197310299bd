"""mops ls-remote: the tags of a remote and the manifests they name."""

from __future__ import annotations

import click


def ls_remote(repo, remote_text: str | None) -> list[tuple[str, str]]:
    from mops.remotes import open_target, resolve_remote

    _n, remote = resolve_remote(repo, remote_text)
    target = open_target(remote, repo)
    out = []
    for t in target.tags():
        try:
            d, _ = target.resolve(t)
        except Exception:  # noqa: BLE001 — a tag deleted between listing and resolving
            continue
        out.append((t, d))
    return out


@click.command("ls-remote")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("remote", required=False)
def cli(as_json, remote):
    """List the tags of REMOTE (default origin) as 'DIGEST<TAB>TAG'.

    \b
    Example:
      mops ls-remote
      mops ls-remote localhost:5000/team/sir
    """
    from mops.lookup import find_repo_or_none
    from mops.ui import emit_json

    if remote == "":  # an unset shell variable must not silently mean the default
        from mops.errors import UsageError

        raise UsageError("REMOTE is empty: leave it out for origin")
    rows = ls_remote(find_repo_or_none(), remote)
    if as_json:
        emit_json("ls-remote", {"tags": [{"tag": t, "digest": d} for t, d in rows]})
        return
    for t, d in rows:
        click.echo(f"{d}\t{t}")
