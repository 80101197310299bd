"""mops fetch: download a bundle into the object store; the worktree is untouched."""

from __future__ import annotations

import click


@click.command("fetch")
@click.option("--insecure", is_flag=True, help="Allow plain HTTP to a registry that is not on localhost.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("remote", required=False)
@click.argument("ref", required=False)
def cli(insecure, as_json, remote, ref):
    """Download manifest, config and missing blobs of REF (tag or digest; default latest)
    from REMOTE (default origin), verifying every digest; update refs/remotes/.

    \b
    Example:
      mops fetch
      mops fetch origin v2
    """
    from mops.sync import fetch
    from mops.ui import emit_json, human_size, open_repo, out, summary

    if "" in (remote, ref):  # an unset shell variable must not silently mean the default
        from mops.errors import UsageError

        raise UsageError("REMOTE or REF is empty: leave it out for the default")

    res = fetch(open_repo(), remote, ref, insecure=insecure)
    if as_json:
        emit_json("fetch", {"digest": res.digest, "remote": res.remote, "tag": res.tag, "files": len(res.tree.files),
                            "blobs_fetched": len(res.fetched), "bytes_fetched": res.bytes_fetched,
                            "seconds": round(res.seconds, 3)})
        return
    out(res.digest)
    summary(f"fetched {res.remote + ':' + res.tag if res.tag else res.remote + '@' + res.digest[:19]}: {len(res.tree.files)} files, {len(res.fetched)} blob(s) "
            f"({human_size(res.bytes_fetched)}) in {res.seconds:.2f}s")
