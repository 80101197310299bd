"""mops materialize: write a bundle into any directory (the worker path; no project needed)."""

from __future__ import annotations

import click


def _refuse_non_directory_ancestor(path: str) -> None:
    """A path below a regular file cannot be created: exit 2 naming it, not an internal error."""
    import os

    from mops.errors import UsageError

    p = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(p) and os.path.dirname(p) != p:
        p = os.path.dirname(p)
    if not os.path.isdir(p):
        raise UsageError(f"{path}: cannot be created, {p} is not a directory")


@click.command("materialize")
@click.option("--role", metavar="R", help="Only the files of role R (default: the role named 'default', if any).")
@click.option("--mirror", is_flag=True, help="Delete files in DEST that are not in the bundle (or role).")
@click.option("--overwrite", is_flag=True, help="Replace files in DEST that differ from the bundle.")
@click.option("--lazy", is_flag=True, help="Write pointer files instead of external files' content (no download).")
@click.option("--dry-run", "-n", "dry_run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--link", type=click.Choice(["auto", "reflink", "hardlink", "copy"]), default="auto", show_default=True,
              help="How files reach DEST from the shared cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False))
def cli(role, mirror, overwrite, lazy, dry_run, link, as_json, ref, dest):
    """Write bundle REF into directory DEST, created if missing.

    REF is REMOTE@sha256:<hex>, REMOTE:TAG, or (inside a project) a tag,
    digest or ref.  Blobs are fetched once into the shared cache
    ($MOPS_CACHE, default ~/.cache/mops), verified, and reach DEST by
    reflink, else hardlink, else copy.  DEST receives the bundle's files
    and nothing else.  External files are fetched from their object store
    the same way (once per machine, verified); with --lazy a small pointer
    file stands in for each, and a later run without --lazy replaces the
    pointers with the content.  Files already right are not rewritten; a
    file that differs exits 12 and nothing is changed, unless --overwrite.
    The resolved digest is printed on stdout.

    \b
    Example:
      mops materialize ghcr.io/acme/sir@sha256:0f1e... /scratch/sir
      mops materialize oci:./bundles:v1 ./run --role code --mirror
      mops materialize --lazy oci:./bundles:v1 ./run   # pointers for external files
    """
    from mops.materialize import materialize
    from mops.ui import emit_json, human_size, out, progress, summary

    if not dest:  # an unset shell variable must not mean "here"
        from mops.errors import UsageError

        raise UsageError("DEST is empty: name the directory to write the bundle into")
    _refuse_non_directory_ancestor(dest)
    res = materialize(ref, dest, role=role, mirror=mirror, overwrite=overwrite, lazy=lazy, dry_run=dry_run, link=link,
                      progress_factory=progress)
    if as_json:
        emit_json("materialize", res.to_json())
        return
    if res.dry_run:
        for p in res.written:
            out(f"write {p}")
        for p in res.pointers:
            out(f"pointer {p}")
        for p in res.chmod:
            out(f"chmod {p}")
        for p in res.removed:
            out(f"delete {p}")
        summary(f"would write {len(res.written) + len(res.pointers)} and delete {len(res.removed)} of {res.files} file(s) in {res.path}")
        return
    out(res.digest)
    how = ", ".join(f"{n} by {k}" for k, n in sorted(res.linked.items()))
    if res.up_to_date:
        summary(f"{res.path} is up to date with {res.name} ({res.files} file(s)) in {res.seconds:.2f}s")
    else:
        lazy = f", {len(res.pointers)} as pointers" if res.pointers else ""
        summary(f"materialized {res.name} into {res.path}: {len(res.written)} written{f' ({how})' if how else ''}{lazy}, "
                f"{len(res.unchanged)} unchanged, {len(res.removed)} deleted; fetched {res.objects_fetched} object(s) "
                f"({human_size(res.bytes_fetched)}) in {res.seconds:.2f}s")
