"""mops push: publish exactly what is staged as a bundle."""

from __future__ import annotations

import click


@click.command("push")
@click.option("--tag", "-t", "tag", metavar="T", help="Tag to point at the bundle (default: latest).")
@click.option("--dry-run", "-n", "dry_run", is_flag=True, help="Show what would be uploaded and what disappears; change nothing.")
@click.option("--force", "-f", is_flag=True, help="Move the tag even if it no longer holds the bundle this worktree was last synced with.")
@click.option("--annotation", "annotations", multiple=True, metavar="KEY=VALUE", help="Add a manifest annotation (none by default).")
@click.option("--insecure", is_flag=True, help="Allow plain HTTP to a registry that is not on localhost.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("remote", required=False)
def cli(tag, dry_run, force, annotations, insecure, as_json, remote):
    """Publish the staged files to REMOTE (a remote name or a remote; default origin).

    Uploads only blobs the remote lacks, then the manifest, then moves the tag.
    Prints the manifest digest: the bundle's provenance key.

    \b
    Example:
      mops push --tag v1
      mops push oci:./bundles --dry-run
      mops push localhost:5000/team/sir --tag nightly
    """
    from mops.sync import push
    from mops.ui import emit_json, human_size, open_repo, out, summary

    if remote == "" or tag == "":  # an unset shell variable must not silently mean the default
        from mops.errors import UsageError

        raise UsageError("REMOTE or --tag is empty: leave it out for the default")
    from plumbing.write_manifest import parse_annotations

    res = push(open_repo(), remote, tag, dry_run=dry_run, force=force, annotations=parse_annotations(annotations),
               insecure=insecure)
    if as_json:
        emit_json("push", {"digest": res.digest, "remote": res.remote, "tag": res.tag, "up_to_date": res.up_to_date,
                           "dry_run": res.dry_run, "files": res.files,
                           "uploaded": [{"digest": d.digest, "size": d.size, "path": d.title} for d in res.uploaded],
                           "bytes_uploaded": res.bytes_uploaded, "external_uploaded": res.external_uploaded,
                           "removed": res.removed, "seconds": round(res.seconds, 3)})
        return
    if res.dry_run:
        for d in res.uploaded:
            out(f"upload {d.digest} {d.size} {d.title or '(config)'}")
        for p in res.removed:
            out(f"remove {p}")
        summary(f"dry run: would upload {len(res.uploaded)} blob(s), {human_size(res.bytes_uploaded)}; "
                f"{len(res.removed)} file(s) would disappear from {res.remote}:{res.tag}")
        return
    out(res.digest)
    if res.up_to_date:
        summary(f"{res.remote}:{res.tag} is up to date ({res.files} files)")
    else:
        ext = f", {res.external_uploaded} to the external store" if res.external_uploaded else ""
        summary(f"pushed {res.remote}:{res.tag} {res.digest[:19]}: {res.files} files, {len(res.uploaded)} blob(s) "
                f"uploaded ({human_size(res.bytes_uploaded)}){ext} in {res.seconds:.2f}s")
