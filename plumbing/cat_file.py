"""mops cat-file: an object's type, size, content, or existence."""

from __future__ import annotations

import sys

import click

from mops.errors import NotFound


def cat_file(repo, name: str, what: str):
    """``what`` is one of t, s, p, e.  Returns str/int/bytes/bool."""
    from mops.revs import resolve_local

    digest = resolve_local(repo, name)
    if not repo.objects.has(digest):
        staged = _worktree_backed(repo, digest)
        if staged is None:
            if what == "e":
                return False
            raise NotFound(f"object {digest} is not in the object store")
        return _from_worktree(repo, staged[0], staged[1], what)
    if what == "e":
        return repo.objects.verify(digest)
    if what == "t":
        return repo.objects.kind(digest)
    if what == "s":
        return repo.objects.size(digest)
    return repo.objects.open(digest)


def _worktree_backed(repo, digest: str):
    """(path, entry) of a big staged file whose content was left in the worktree, or None."""
    from mops.index import FLAG_WORKTREE

    sha = bytes.fromhex(digest.split(":", 1)[1])
    index = repo.load_index()
    for path, e in index.entries.items():
        if e[6] == sha and e[8] & FLAG_WORKTREE:
            return path, index.get(path)
    return None


def _from_worktree(repo, path: str, entry, what: str):
    """Answer from the worktree copy of a big staged file, re-verified against its digest."""
    from mops.errors import ConflictError
    from mops.worktree import open_staged

    if what == "t":
        return "blob"
    if what == "s":
        return entry.size
    try:
        reader = open_staged(repo, path, entry)
    except FileNotFoundError:
        if what == "e":
            return False
        raise NotFound(f"object {entry.digest}: staged from {path}, which no longer exists", hint=f"run mops add {path}") from None
    if what == "p":
        return reader
    try:
        with reader as f:
            while f.read(1 << 20):
                pass
    except ConflictError:
        return False
    return True


HOLD_MAX = 64 << 20  # content up to this size is verified before a byte is printed


def _print_verified(reader, digest: str) -> None:
    """Print an object's bytes, checked against its digest: objects up to HOLD_MAX are held and
    verified first (a corrupt one prints nothing); larger ones stream, and a mismatch found at
    the end still exits 11."""
    import hashlib

    from mops.errors import IntegrityError

    h = hashlib.sha256()
    held: list[bytes] | None = []
    size = 0
    out = sys.stdout.buffer
    with reader as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
            if held is not None and size <= HOLD_MAX:
                held.append(chunk)
                continue
            if held:
                out.writelines(held)
            held = None
            out.write(chunk)
    got = "sha256:" + h.hexdigest()
    if got != digest:
        out.flush()
        raise IntegrityError(f"object {digest} is corrupt: its content hashes to {got}", hint="run mops fsck")
    if held:
        out.writelines(held)
    out.flush()


@click.command("cat-file")
@click.option("-t", "t", is_flag=True, help="Print the object's type: blob, tree or manifest.")
@click.option("-s", "s", is_flag=True, help="Print the object's size in bytes.")
@click.option("-p", "p", is_flag=True, help="Print the object's content.")
@click.option("-e", "e", is_flag=True, help="Exit 0 if the object exists and is intact, 1 otherwise; print nothing.")
@click.argument("object")
def cli(t, s, p, e, object):
    """Print information about OBJECT (a digest or a ref).

    \b
    Example:
      mops cat-file -p $(mops write-tree)
      mops cat-file -e sha256:2cf2... || echo missing
    """
    from mops.ui import open_repo

    modes = [m for m, on in (("t", t), ("s", s), ("p", p), ("e", e)) if on]
    if len(modes) != 1:
        raise click.UsageError("give exactly one of -t, -s, -p, -e")
    what = modes[0]
    repo = open_repo()
    if what == "e":
        try:
            ok = cat_file(repo, object, "e")
        except NotFound:
            ok = False
        sys.exit(0 if ok else 1)
    res = cat_file(repo, object, what)
    if what == "p":
        from mops.revs import resolve_local

        _print_verified(res, resolve_local(repo, object))
    else:
        click.echo(res)
