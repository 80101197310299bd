"""mops verify: check a bundle's blobs and external objects (or, in a project, the worktree)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import click


@dataclass
class VerifyReport:
    ref: str | None
    digest: str | None = None
    checked: int = 0
    full: bool = False
    mismatches: list[dict] = field(default_factory=list)  # {"path", "digest", "where", "problem"}

    @property
    def ok(self) -> bool:
        return not self.mismatches


def verify_bundle(ref: str, repo=None, role: str | None = None, full: bool = False, report: VerifyReport | None = None,
                  remote=None) -> VerifyReport:
    """Every registry blob (and the config) of REF on its remote, downloaded and hashed against its
    digest; every external object in its store present with the right size (and etag where one was
    recorded), and with ``full`` hashed too.  A missing one counts as a mismatch."""
    from mops import digest as dg
    from mops.bundle import parse_manifest
    from mops.materialize import resolve
    from mops.roles import select

    report = report or VerifyReport(ref, full=full)
    res = resolve(ref, repo)
    if remote is not None:
        res.source.remote = remote
    report.digest = res.digest
    m = parse_manifest(res.manifest)
    target = res.source.target()

    def check_registry(path: str, digest: str, size: int) -> None:
        report.checked += 1
        have = target.blob_size(digest)
        if have is None:
            problem = f"missing from {target.name}"
        elif have != size:
            problem = f"size {have} on {target.name}, expected {size}"
        else:  # registry blobs are always checked against their digest (SPEC §5)
            with target.fetch_blob(digest, size) as f:
                got, n = dg.of_stream(f)
            problem = None if (got, n) == (digest, size) else f"content on {target.name} hashes to {got} ({n} bytes)"
        if problem:
            report.mismatches.append({"path": path, "digest": digest, "where": target.name, "problem": problem})

    from mops.errors import NotFound

    report.checked += 1
    try:
        target.resolve(res.digest)
    except NotFound:
        report.mismatches.append({"path": "(manifest)", "digest": res.digest, "where": target.name,
                                  "problem": f"missing from {target.name}"})
    check_registry("(bundle config)", m.config.digest, m.config.size)
    external = []
    for f in select(res.tree, role):
        if f.storage == "registry":
            check_registry(f.path, f.digest, f.size)
        else:
            external.append(f)
    verify_external(res.source, external, full, report, concurrency(repo))
    return report


def verify_external(source, files, full: bool, report: VerifyReport, concurrency: int = 4) -> None:
    """Check each external object in its store, in parallel: present with its size, and unchanged
    since its bytes last verified on this machine when the store gives etags (the cache remembers
    them); with ``full``, hashed.  An object whose etag moved is hashed before it is judged, so a
    re-upload of the same bytes is not a mismatch, while a same-size rewrite is caught without
    ``--full``."""
    from mops.copy import run_bounded
    from mops.materialize import probe_missing

    book = source.cache.etag_book()
    verified: dict[str, tuple[int, str]] = {}

    def check(f) -> dict | None:
        store = source.store_for(f.uri)
        c = store.verify(f.digest, f.size, full=full)
        if not c.ok and store.stat(f.digest) is None:
            probe_missing(store, f.digest)  # an absent store (unmounted share) exits 3, not 11
        hashed = full
        recorded = book.get(f.uri, f.size)
        if c.ok and not full and recorded and c.etag and c.etag != recorded:
            c = store.verify(f.digest, f.size, full=True)
            hashed = True
            if not c.ok:
                c = type(c)(c.uri, c.digest, False, f"changed since it last verified (etag {c.etag}, was {recorded}): "
                            f"{c.problem}", c.etag)
        if c.ok and hashed and c.etag:
            verified[f.uri] = (f.size, c.etag)
        if c.ok:
            return None
        return {"path": f.path, "digest": f.digest, "where": c.uri, "problem": f"{c.problem} ({c.uri})"}

    report.checked += len(files)
    report.mismatches.extend(m for m in run_bounded(check, files, concurrency) if m is not None)
    source.cache.record_etags(verified)


def concurrency(repo) -> int:
    from mops.remotes import concurrency as configured

    return configured(repo)


def verify_project(repo, role: str | None = None, full: bool = False) -> VerifyReport:
    """The worktree against the index (every tracked file re-hashed with ``full``; otherwise
    files whose stat data is unchanged are trusted, as status does), then the last synced
    bundle on its remote."""
    from mops.worktree import worktree_changes

    report = VerifyReport(None, full=full)
    index = repo.load_index()
    if full:
        from mops import digest as dg
        from mops.pointer import points_to

        for rel, e in sorted(index.items()):
            report.checked += 1
            p = repo.abspath(rel)
            if not os.path.isfile(p) or os.path.islink(p):
                report.mismatches.append({"path": rel, "digest": e.digest, "where": "worktree", "problem": "deleted from the worktree"})
                continue
            if points_to(p, e.digest):
                continue  # a lazy pointer (pull --lazy): its content is checked in the store below
            got, _n = dg.of_file(p)
            if got != e.digest:
                report.mismatches.append({"path": rel, "digest": e.digest, "where": "worktree",
                                          "problem": f"modified in the worktree (hashes to {got})"})
    else:
        ch = worktree_changes(repo, index, untracked=False)
        report.checked += len(index)
        for rel in ch.modified:
            report.mismatches.append({"path": rel, "digest": index.get(rel).digest, "where": "worktree",
                                      "problem": "modified in the worktree"})
        for rel in ch.deleted:
            report.mismatches.append({"path": rel, "digest": index.get(rel).digest, "where": "worktree",
                                      "problem": "deleted from the worktree"})
    info = repo.refs.head_info()
    head, base = info.get("ref"), repo.refs.bundle_digest()  # the bundle synced with (a manifest)
    if base:
        from mops.reference import parse_remote
        from mops.remotes import resolve_remote

        remote = None
        parts = (head or "").split("/")
        try:
            if info.get("remote"):
                remote = parse_remote(info["remote"], str(repo.root))
            elif head and head.startswith("refs/remotes/") and len(parts) >= 4:
                _n, remote = resolve_remote(repo, parts[2])
        except Exception:  # noqa: BLE001 — a remote given by URL and since removed: use origin
            remote = None
        ref = f"{remote.url}@{base}" if remote is not None else base
        report.ref = ref
        verify_bundle(ref, repo, role, full, report, remote)
    return report


@click.command("verify")
@click.option("--role", metavar="R", help="Only the files of role R.")
@click.option("--full", is_flag=True, help="Also download and hash every external object (and re-hash every worktree file).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("ref", required=False)
def cli(role, full, as_json, ref):
    """Check bundle REF's blobs and external objects against their digests.

    Every registry blob and external object must be present with its
    recorded size; with --full each is downloaded and hashed.  An
    external object whose etag changed since its bytes last verified on
    this machine (by materialize or verify --full) is hashed too,
    so a same-size rewrite is caught without --full.  Inside a project
    with no REF: the worktree against the index, then the last synced
    bundle on its remote.  Any mismatch exits 11, listing each.

    \b
    Example:
      mops verify ghcr.io/acme/sir@sha256:0f1e... --full
      mops verify            # in a project: worktree, index, last synced bundle
    """
    from mops.errors import IntegrityError
    from mops.lookup import find_repo_or_none
    from mops.ui import emit_json, out, summary

    repo = find_repo_or_none()
    if ref is None:
        if repo is None:
            from mops.errors import NotAProject

            raise NotAProject(os.getcwd())
        report = verify_project(repo, role, full)
    else:
        report = verify_bundle(ref, repo, role, full)
    if as_json:
        emit_json("verify", {"ref": report.ref, "digest": report.digest, "full": report.full, "checked": report.checked,
                             "ok": report.ok, "mismatches": report.mismatches})
    elif report.ok:
        out("ok")
    what = report.ref or "the worktree"
    if report.ok:
        summary(f"verified {report.checked} item(s) of {what}: all match{' (hashed)' if full else ''}")
        return
    lines = "\n".join(f"  {m['path']} ({m['digest'][:19]}…): {m['problem']}" for m in report.mismatches)
    raise IntegrityError(f"{len(report.mismatches)} of {report.checked} item(s) of {what} do not match:\n{lines}",
                         hint="re-push the bundle from a project that has the files (mops push --force), or mops add the changes")
