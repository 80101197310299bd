"""mops status: staged changes (index vs the last synced bundle), unstaged changes, untracked files."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field


@dataclass
class Status:
    base_ref: str | None
    base_digest: str | None
    staged: list[tuple[str, str]] = field(default_factory=list)  # (A|M|D, path)
    unstaged: list[tuple[str, str]] = field(default_factory=list)  # (M|D, path)
    untracked: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    remote: dict | None = None
    bundle_digest: str | None = None  # the bundle synced with (base_digest is a tree after a limited pull)

    @property
    def clean(self) -> bool:
        return not (self.staged or self.unstaged or self.untracked)


def _collapse_untracked(untracked: list[str], tracked) -> list[str]:
    """git's default: a directory holding no tracked file is shown once, as ``dir/``."""
    if not untracked:
        return []
    tracked_dirs = set()
    for p in tracked:
        parts = p.split("/")
        for i in range(1, len(parts)):
            tracked_dirs.add("/".join(parts[:i]))
    out: dict[str, None] = {}
    for p in untracked:
        parts = p.split("/")
        shown = p
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in tracked_dirs:
                shown = d + "/"
                break
        out[shown] = None
    return list(out)


def status(repo, untracked_files: bool = False, ignored: bool = False, remote: bool = True) -> Status:
    from mops import scan as fastscan

    # the stat pass starts first and runs in other processes while the rest is worked out
    sc = None
    if not ignored and fastscan.enabled():
        sc = fastscan.take(str(repo.root)) or fastscan.FindScan(str(repo.root))
    loaded = []

    def load_index():
        if not loaded:
            loaded.append(repo.load_index())
        return loaded[0]

    try:
        st = Status(repo.refs.head(), repo.refs.base_digest())
        st.bundle_digest = repo.refs.bundle_digest()
        if remote:
            st.remote = _remote_status(repo)
        ch = sc.changes(repo, load_index) if sc is not None else None
    finally:
        if sc is not None:
            sc.close()
    if ch is None:
        from mops.worktree import worktree_changes

        sc = None
        ch = worktree_changes(repo, load_index(), untracked=True, ignored=ignored)
    if ch.refreshed:
        _refresh_quietly(repo, load_index(), ch.refreshed)
    checksum = sc.index_key().rpartition(":")[2] if sc is not None and loaded == [] else None
    if checksum is None:
        index = load_index()
        checksum = index.checksum.hex() if index.checksum else None
    st.staged = _staged_changes(repo, checksum, load_index, st.base_digest)
    st.unstaged = sorted([("M", p) for p in ch.modified] + [("D", p) for p in ch.deleted], key=lambda t: t[1])
    if untracked_files:
        st.untracked, st.ignored = ch.untracked, ch.ignored
    else:
        memo = sc.memo.get("collapsed") if sc is not None else None
        if memo is None or not ch.untracked:
            memo = _collapse_untracked(ch.untracked, load_index().paths()) if ch.untracked else []
            if sc is not None and ch.untracked:
                sc.remember("collapsed", memo)
        st.untracked = memo
        st.ignored = _collapse_untracked(ch.ignored, load_index().paths()) if ch.ignored else []
    return st


def _remote_status(repo) -> dict | None:
    """Where the remote tag stands compared with the worktree's base; never fails (status exits 0).

    Only the remote's manifest index is asked (one tag lookup, 2 s at most); the sync code is
    not imported, and a remote that is not configured is known without any I/O.
    """
    head = repo.refs.head_info()
    ref = head.get("ref")
    if not ref or not ref.startswith("refs/remotes/"):
        return None
    _, _, name, tag = ref.split("/", 3)
    base = head.get("bundle")
    try:
        from mops.errors import NotFound
        from mops.remotes import open_target, resolve_remote

        if head.get("remote"):
            from mops.reference import parse_remote

            remote = parse_remote(head["remote"], str(repo.root))
        else:
            _n, remote = resolve_remote(repo, name)
        target = open_target(remote, repo, True if head.get("insecure") == "true" else None)
        if hasattr(target, "timeout"):
            target.timeout = min(float(target.timeout), 2.0)  # status must stay quick
        try:
            current, _ = target.resolve(tag)
        except NotFound:
            current = None
    except Exception as e:  # noqa: BLE001 — any failure means "unavailable", status still succeeds
        from mops.errors import MopsError

        why = e.message if isinstance(e, MopsError) else type(e).__name__
        return {"remote": name, "tag": tag, "state": "unavailable", "message": f"remote {name} unavailable ({why})"}
    if current == base:
        state, msg = "up-to-date", f"Remote {name}/{tag} is up to date"
    elif current is None:
        state, msg = "gone", f"Remote tag {name}/{tag} no longer exists"
    else:
        state, msg = "moved", f"Remote {name}/{tag} is at {current[:19]}…, not the synced bundle (run mops pull)"
    return {"remote": name, "tag": tag, "state": state, "recorded": base, "current": current, "message": msg}


STAGED_CACHE = "status-cache"


def _staged_changes(repo, checksum, load_index, base_digest) -> list[tuple[str, str]]:
    """Index vs the sync base, remembered per (index checksum, base digest).

    Both sides are immutable for a given key: the index's sha256 trailer covers every path,
    digest and mode, and the base is content-addressed.  So the answer is kept in
    ``.modelops-bundle/status-cache`` and reused until either changes; a missing, stale or
    damaged cache is just recomputed.  The base side of that computation is kept too
    (``base-cache``): parsing and checking a 100,000-file base tree takes most of a second,
    and the base changes only at a push or a pull, while the index changes at every add.
    """
    from mops.worktree import tree_changes

    if base_digest is not None and not repo.objects.has(base_digest):
        return tree_changes({}, load_index().sha_exec())
    key = {"index": checksum, "base": base_digest}  # base None: before the first push, all is new
    cache = repo.dot / STAGED_CACHE
    if key["index"] is not None:
        try:
            import json

            doc = json.loads(cache.read_bytes())
            if doc.get("index") == key["index"] and doc.get("base") == key["base"]:
                return [(c, p) for c, p in doc["staged"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    staged = tree_changes(_base_side(repo, base_digest) if base_digest else {}, load_index().sha_exec())
    if key["index"] is not None:
        try:
            import json

            from mops.fsutil import atomic_write_bytes

            atomic_write_bytes(cache, json.dumps({**key, "staged": staged}).encode(), sync=False)
        except OSError:
            pass
    return staged


BASE_CACHE = "base-cache"


def _base_side(repo, base_digest: str) -> dict[str, tuple[bytes, bool]]:
    """The same map for the base tree, from ``base-cache`` when it holds this base."""
    import marshal

    cache = repo.dot / BASE_CACHE
    key = (sys.version_info[:2], base_digest)  # marshal's format belongs to one Python version
    try:
        got_key, m = marshal.loads(cache.read_bytes())
        if got_key == key and isinstance(m, dict):
            return m
    except (OSError, EOFError, ValueError, TypeError):
        pass
    base = repo.read_tree(base_digest)
    m = {p: (bytes.fromhex(f.digest[7:]), f.mode == "0755") for p, f in base.files.items()}
    try:
        from mops.fsutil import atomic_write_bytes

        atomic_write_bytes(cache, marshal.dumps((key, m)), sync=False)
    except OSError:
        pass
    return m


def _refresh_quietly(repo, index, refreshed) -> None:
    """Record new stat data for files whose content did not change, if no one else is writing."""
    from mops.errors import LockHeld

    try:
        with repo.lock_index() as lock:
            fresh = repo.load_index()
            if fresh.entries.keys() != index.entries.keys():
                return
            for p, e in refreshed.items():
                old = fresh.entries.get(p)
                if old is not None and old[6] == e.sha:
                    fresh.entries[p] = e
            lock.commit(fresh)
    except (LockHeld, OSError):
        return


LABELS = {"A": "new file:", "M": "modified:", "D": "deleted:"}


def _rel(path: str, root, cwd: str) -> str:
    if cwd == str(root):  # the usual case: paths are already relative to the root
        return path
    r = os.path.relpath(os.path.join(root, path), cwd)
    return r + "/" if path.endswith("/") else r


def render_human(st: Status, root, show_ignored: bool) -> None:
    cwd = os.getcwd()
    w = sys.stdout.write
    if st.base_ref:
        short = st.base_ref.removeprefix("refs/remotes/")
        shown = st.bundle_digest or st.base_digest
        partial = " — partly pulled (a limited pull)" if st.bundle_digest and st.base_digest != st.bundle_digest else ""
        w(f"On bundle {short} ({shown[:19] if shown else 'unknown'}){partial}\n")
    elif st.base_digest:
        w(f"On bundle {(st.bundle_digest or st.base_digest)[:19]} (pulled by digest)\n")
    else:
        w("No bundle pushed or pulled yet\n")
    if st.remote is not None:
        w(f"{st.remote.get('message', '')}\n")
    if st.staged:
        w("\nChanges to be pushed:\n  (use \"mops remove <file>...\" to unstage)\n")
        for code, p in st.staged:
            w(f"\t{LABELS[code]:<12}{_rel(p, root, cwd)}\n")
    if st.unstaged:
        w("\nChanges not staged:\n  (use \"mops add <file>...\" to update what will be pushed)\n")
        for code, p in st.unstaged:
            w(f"\t{LABELS[code]:<12}{_rel(p, root, cwd)}\n")
    if st.untracked:
        w("\nUntracked files:\n  (use \"mops add <file>...\" to include them)\n")
        for p in st.untracked:
            w(f"\t{_rel(p, root, cwd)}\n")
    if show_ignored and st.ignored:
        w("\nIgnored files:\n  (use \"mops add -f <file>...\" to include them)\n")
        for p in st.ignored:
            w(f"\t{_rel(p, root, cwd)}\n")
    if st.clean:
        w("\nnothing to push, working tree clean\n" if st.base_digest else "\nnothing staged, working tree clean\n")


def porcelain_lines(st: Status, show_ignored: bool) -> list[str]:
    """git's two-column XY form: X = staged, Y = worktree; paths relative to the project root."""
    x = {p: c for c, p in st.staged}
    y = {p: c for c, p in st.unstaged}
    lines = [f"{x.get(p, ' ')}{y.get(p, ' ')} {p}" for p in sorted(x.keys() | y.keys())]
    lines += [f"?? {p}" for p in st.untracked]
    if show_ignored:
        lines += [f"!! {p}" for p in st.ignored]
    return lines


def run(porcelain: bool = False, nul: bool = False, as_json: bool = False, untracked_files: bool = False,
        ignored: bool = False) -> None:
    from mops.ui import emit_json, open_repo

    repo = open_repo()
    st = status(repo, untracked_files=untracked_files or as_json, ignored=ignored, remote=not (porcelain or nul))
    if as_json:
        emit_json("status", {
            "base": {"ref": st.base_ref, "digest": st.base_digest},
            "staged": [{"status": c, "path": p} for c, p in st.staged],
            "unstaged": [{"status": c, "path": p} for c, p in st.unstaged],
            "untracked": st.untracked,
            "ignored": st.ignored if ignored else [],
            "remote": st.remote,
            "clean": st.clean,
        })
        return
    if porcelain or nul:
        end = "\0" if nul else "\n"
        sys.stdout.write("".join(line + end for line in porcelain_lines(st, ignored)))
        return
    render_human(st, repo.root, ignored)


# Flags that need no parsing beyond their presence: ``mops status`` with only these is run
# without loading click (see mops.cli), since status is the command run most often.
FAST_FLAGS = {"--porcelain": "porcelain", "-z": "nul", "--json": "as_json", "-u": "untracked_files",
              "--untracked-files": "untracked_files", "--ignored": "ignored"}


def _make_cli():
    import click

    @click.command("status")
    @click.option("--porcelain", is_flag=True, help="Stable two-column XY output for scripts (git's form).")
    @click.option("-z", "nul", is_flag=True, help="With --porcelain, end entries with NUL.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @click.option("-u", "--untracked-files", "untracked_files", is_flag=True, help="List every untracked file, not just directories.")
    @click.option("--ignored", is_flag=True, help="Also list ignored files.")
    def cli(porcelain, nul, as_json, untracked_files, ignored):
        """Show what is staged, what changed in the worktree, and what is untracked.

        Staged changes compare the index with the bundle last pushed or pulled;
        unchanged files are recognised by their stat data and never read.

        \b
        Example:
          mops status
          mops status --porcelain -z | tr '\\0' '\\n'
        """
        run(porcelain, nul, as_json, untracked_files, ignored)

    return cli


def __getattr__(name: str):
    if name == "cli":  # built on first use, so the fast path never imports click
        cli = globals()["cli"] = _make_cli()
        return cli
    raise AttributeError(name)
