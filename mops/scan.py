"""The worktree stat pass behind ``mops status``, run by GNU find in parallel processes.

``status`` must lstat every file to notice an edit, and on 100,000 files the per-file cost of
doing that in Python (a stat object, five comparisons, a dict lookup) is most of a second.  Here
the walk and the lstat calls run in C: GNU ``find`` prints one record per regular file,

    <size> <mtime> <ctime> <inode> <permission bits> ./<path> NUL

and the tree is split between up to four ``find`` processes so the kernel work spreads over the
cores, as git's threaded index preload does.  Python then compares the records in bulk:

* The *expected* records — what ``find`` prints for every tracked file whose stat data matches
  its index entry — are formatted once per index version and kept in
  ``.modelops-bundle/scan-expected``.  A set difference between the records found and the
  records expected leaves only the paths that need a look: untracked, changed, missing.  Racy
  entries (git's rule: not strictly older than the index) and lazy pointers are always looked at.
* The outcome of the last pass is kept in ``.modelops-bundle/scan-last`` with a hash of the
  records it saw.  When the next pass prints exactly the same records under the same index and
  ignore rules, the outcome is the same, so nothing is compared at all; the paths that needed a
  look are looked at again.

Every file is still lstat'ed on every run: an edit always changes the records, and so is always
seen.  The caches only decide how much Python work a run needs; a missing, stale or damaged cache
is rebuilt.  Where GNU find is not available (or ``MOPS_SCANNER=python``), or for
``status --ignored``, the caller falls back to the Python walk in :mod:`mops.worktree`.
"""

from __future__ import annotations

import json
import os
import re
import sys

from .ignore import DEFAULT_PATTERNS, DOT_DIR, IGNORE_FILE

VERSION = 2
EXPECTED = "scan-expected"
LAST = "scan-last"
# \0 is find's escape for NUL: records end with NUL, so any path (even one holding a newline) parses
FORMAT = "%s %T@ %C@ %i %m %p\\0"
_G = 1_000_000_000
_SIMPLE = re.compile(r"^(/?)([A-Za-z0-9._~*?+=,@%-]+)(/?)$")


def enabled() -> bool:
    return sys.platform.startswith("linux") and os.environ.get("MOPS_SCANNER", "find") != "python"


def _prune_expr(ignore_text: bytes) -> list[str]:
    """find tests for the directories the ignore rules certainly exclude, so find never enters them.

    They are applied to directories only (files are printed before any name is matched: GNU
    find's optimiser would otherwise run every -name test on every file).  Only plain names (``build/``, ``*.pyc``, ``/data/``) are translated; everything else is
    matched in Python.  With any negated pattern nothing but mops' own directory is pruned:
    pruning must never hide a file the rules would report.
    """
    expr = ["-path", f"./{DOT_DIR}"]
    lines = list(DEFAULT_PATTERNS) + ignore_text.decode("utf-8", "replace").splitlines()
    if any(line.startswith("!") for line in lines):
        return expr
    for line in lines:
        m = _SIMPLE.match(line)
        if not m:
            continue
        anchored, name, _slash = m.groups()
        if name in (".", "..") or anchored and ("*" in name or "?" in name):
            continue  # in -path, * and ? also match "/": /*.egg-info would prune src/x.egg-info
        expr += ["-o", *(["-path", f"./{name}"] if anchored else ["-name", name])]
    return expr


def _names(key: str, index) -> bool:
    """True when ``index`` (as loaded) is the index file ``key`` was read from."""
    if key == "none":
        return index.checksum is None and len(index) == 0
    size, mtime, _ino, trailer = key.split(":")
    return index.checksum is not None and index.checksum.hex() == trailer and index.mtime_ns == int(mtime)


def _find_program() -> str | None:
    """find's absolute path, from the absolute entries of PATH only: it is run from the project
    root, where a relative PATH entry could pick up a ``find`` from the worktree."""
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if d and os.path.isabs(d):
            exe = os.path.join(d, "find")
            if os.access(exe, os.X_OK) and not os.path.isdir(exe):
                return exe
    return None


def _glob_escape(path: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", path)


class FindScan:
    """One stat pass, started at construction; :meth:`changes` waits for it and classifies."""

    def __init__(self, root: str):
        self.root = root
        self.dot = os.path.join(root, DOT_DIR)
        try:
            with open(os.path.join(self.root, IGNORE_FILE), "rb") as f:
                ignore_text = f.read()
        except OSError:
            ignore_text = b""
        self.prune = _prune_expr(ignore_text)
        from blake3 import blake3

        self.rules_key = f"{VERSION}:" + blake3(repr((DEFAULT_PATTERNS, self.prune)).encode() + b"\0"
                                                + ignore_text).hexdigest()
        self.last = self._read_last()
        self.plan = self._plan((self.last or {}).get("weights") or {})
        self.memo: dict = {}
        self._save_last: dict | None = None
        self.procs: list[tuple[int, int]] = []
        try:
            for argv in self._argvs():
                self.procs.append(self._spawn(argv))
        except OSError:  # no find on PATH
            self.failed = True
        else:
            self.failed = False

    # -- the find processes ----------------------------------------------------------------
    def _plan(self, weights: dict) -> list[list[str]]:
        """Subtrees per process.  Process 0 walks the whole root except the subtrees given to
        the others, so it also takes the files at the top and any subtree not listed."""
        k = min(4, os.cpu_count() or 1)
        if k < 2:
            return [[]]
        units = []
        skip = {DOT_DIR} | {self.prune[i + 1] for i, t in enumerate(self.prune) if t == "-name"}
        try:
            with os.scandir(self.root) as it:
                for de in it:
                    if de.name not in skip and de.is_dir(follow_symlinks=False):
                        units.append(de.name)
        except OSError:
            return [[]]
        total = sum(v for u, v in weights.items() if "/" not in u) or len(units)

        def weight(u: str) -> int:
            return weights.get(u, 1)

        # a subtree holding more than its share is split one level down (weights know two levels)
        children: dict[str, list[str]] = {}
        for key in weights:
            head, sep, _ = key.partition("/")
            if sep:
                children.setdefault(head, []).append(key)
        split = []
        for u in units:
            # a subtree the weights remember may be gone: a missing start point fails find
            kids = [kid for kid in children.get(u, []) if os.path.isdir(os.path.join(self.root, kid))
                    and not os.path.islink(os.path.join(self.root, kid))]
            if weight(u) * k > total and len(kids) > 1:
                split += kids
            else:
                split.append(u)
        split.sort(key=lambda u: (-weight(u), u))
        groups: list[list[str]] = [[] for _ in range(k)]
        loads = [0] * k
        for u in split:
            j = loads.index(min(loads))
            groups[j].append(u)
            loads[j] += weight(u)
        return [sorted(g) for g in groups if g or g is groups[0]]

    def _argvs(self) -> list[list[str]]:
        prune0 = list(self.prune)
        for g in self.plan[1:]:
            for u in g:
                prune0 += ["-o", "-path", "./" + _glob_escape(u)]
        argvs = [["find", ".", "-type", "f", "-printf", FORMAT, "-o", "-type", "d", "(", *prune0, ")", "-prune"]]
        for g in self.plan[1:]:
            argvs.append(["find", *("./" + u for u in g),
                          "-type", "f", "-printf", FORMAT, "-o", "-type", "d", "(", *self.prune, ")", "-prune"])
        return argvs

    def _spawn(self, argv: list[str]) -> tuple[int, int]:
        """posix_spawn with stdout into an anonymous in-memory file: no pipe to drain, no threads.

        find runs in the project root so that records read ``./path``; posix_spawn has no chdir
        action, so the parent changes directory around the spawn (nothing else runs meanwhile).
        """
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("mops-scan", os.MFD_CLOEXEC)
        else:
            import tempfile

            with tempfile.TemporaryFile() as t:
                fd = os.dup(t.fileno())
        exe = _find_program()
        if exe is None:
            os.close(fd)
            raise FileNotFoundError("find")
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        cwd = os.getcwd()
        try:
            os.chdir(self.root)
            pid = os.posix_spawn(exe, argv, dict(os.environ, LC_ALL="C"),
                                 file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
        except OSError:
            os.close(fd)
            raise
        finally:
            os.chdir(cwd)
            os.close(null)
        return pid, fd

    def output(self) -> bytes | None:
        """Every record, or None when find failed (not GNU find, an unreadable directory, ...)."""
        chunks = []
        ok = not self.failed
        while self.procs:
            pid, fd = self.procs[0]
            try:
                _, status = os.waitpid(pid, 0)
                if os.waitstatus_to_exitcode(status) != 0:
                    ok = False
            except ChildProcessError:  # SIGCHLD ignored by whoever started us: no status to read
                ok = False
            try:
                size = os.fstat(fd).st_size
                chunks.append(os.pread(fd, size, 0) if size else b"")
            finally:
                self.procs.pop(0)
                os.close(fd)
        return b"".join(chunks) if ok else None

    def close(self) -> None:
        """Stop and reap the find processes not waited for (a usage error, --help)."""
        import signal

        while self.procs:
            pid, fd = self.procs.pop(0)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            os.close(fd)

    # -- caches ----------------------------------------------------------------------------
    def _read_last(self) -> dict | None:
        try:
            with open(os.path.join(self.dot, LAST), "rb") as f:
                doc = json.loads(f.read())
            return doc if isinstance(doc, dict) and doc.get("version") == VERSION else None
        except (OSError, ValueError):
            return None

    def _write(self, name: str, data: bytes) -> None:
        from .fsutil import atomic_write_bytes

        try:
            atomic_write_bytes(os.path.join(self.dot, name), data, sync=False)
        except OSError:
            pass  # a read-only project still gets its status, just not the cache

    def index_key(self) -> str | None:
        """The index's identity without parsing it: size, mtime, inode and its sha256 trailer."""
        path = os.path.join(self.dot, "index")
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_size < 32:
                    return None
                trailer = os.pread(f.fileno(), 32, st.st_size - 32)
        except FileNotFoundError:
            return "none"
        except OSError:
            return None
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{trailer.hex()}"

    def _expected(self, key: str, load_index) -> tuple[bytes, list[str], dict] | None:
        """(expected records, paths always looked at, subtree weights) for this index version;
        None when the index loaded is not the one ``key`` names (another process wrote it)."""
        from blake3 import blake3

        path = os.path.join(self.dot, EXPECTED)
        try:
            with open(path, "rb") as f:
                data = f.read()
            head, _, body = data.partition(b"\n")
            doc = json.loads(head)
            if (doc.get("key") == key and doc.get("rules") == self.rules_key and doc.get("version") == VERSION
                    and doc.get("body") == blake3(body).hexdigest()):  # a torn or damaged body is rebuilt
                return body, doc["always"], doc["weights"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        index = load_index()
        if not _names(key, index):
            return None
        body, always, weights = expected_records(index)
        self._write(EXPECTED, json.dumps({"version": VERSION, "key": key, "rules": self.rules_key,
                                          "body": blake3(body).hexdigest(), "always": always,
                                          "weights": weights}).encode() + b"\n" + body)
        return body, always, weights

    # -- classification --------------------------------------------------------------------
    def changes(self, repo, load_index, untracked: bool = True):
        """The worktree's changes against the index (a WorktreeChanges), or None to fall back.

        ``load_index`` is called only when an index entry is needed.
        """
        self.repo = repo
        from blake3 import blake3

        from .worktree import WorktreeChanges, check_path

        key = self.index_key()
        out = self.output()
        if out is None:
            # find failed: forget the split it was given (a remembered subtree may be gone)
            try:
                os.unlink(os.path.join(self.dot, LAST))
            except OSError:
                pass
            return None
        if key is None:
            return None
        ohash = blake3(out).hexdigest()
        last = self.last
        if (last and last.get("key") == key and last.get("rules") == self.rules_key
                and last.get("plan") == self.plan and last.get("out") == ohash):
            look, found_untracked, weights = last["look"], last["untracked"], last["weights"]
            self.memo = last.get("memo") or {}
        else:
            got = self._expected(key, load_index)
            if got is None:
                return None  # the index changed under us: the walk answers for the index given
            expected, always, weights = got
            try:
                look, found_untracked = self._classify(out, expected, always)
            except (IndexError, ValueError):  # records not in the expected form
                return None
            self.memo = {}
            self._save_last = {"version": VERSION, "key": key, "rules": self.rules_key, "plan": self.plan,
                               "out": ohash, "look": look, "untracked": found_untracked, "weights": weights}
        ch = WorktreeChanges()
        if untracked:
            ch.untracked = list(found_untracked)
        if look:
            index = load_index()
            if not _names(key, index):
                return None
            for rel in look:
                e = index.lookup(rel)
                if e is not None:
                    check_path(self.repo, ch, rel, e, index.mtime_ns)
        if self._save_last is not None:
            self._flush_last()  # only an outcome computed against the index the key names
        ch.sort()
        return ch

    def remember(self, name: str, value) -> None:
        """Keep a value derived from this pass's outcome (e.g. the collapsed untracked list)."""
        self.memo[name] = value
        if self._save_last is None and self.last is not None:
            self._save_last = dict(self.last)
        if self._save_last is not None:
            self._save_last["memo"] = self.memo
            self._flush_last()

    def _flush_last(self) -> None:
        self._write(LAST, json.dumps(self._save_last).encode())

    def _classify(self, out: bytes, expected: bytes, always: list[str]) -> tuple[list[str], list[str]]:
        """(tracked paths to look at, untracked paths not ignored) from the records found."""
        found = set(out.split(b"\0"))
        found.discard(b"")
        exp = set(expected.split(b"\0"))
        exp.discard(b"")
        odd = found - exp  # untracked, or tracked with stat data unlike its entry
        gone = exp - found  # tracked files not found as expected: changed, deleted, pruned
        fsdecode = os.fsdecode
        look = set(always)
        look.update(fsdecode(r.split(b" ", 5)[5][2:]) for r in gone)
        new_untracked = []
        for r in odd:
            rel = fsdecode(r.split(b" ", 5)[5][2:])
            if rel not in look:
                new_untracked.append(rel)
        if new_untracked:
            rules = self.repo.ignore
            memo: dict[str, bool] = {}

            def dir_ignored(d: str) -> bool:
                hit = memo.get(d)
                if hit is None:
                    parent = d.rpartition("/")[0]
                    hit = memo[d] = (parent != "" and dir_ignored(parent)) or rules.match(d, True)
                return hit

            new_untracked = [p for p in new_untracked
                             if not (("/" in p and dir_ignored(p.rpartition("/")[0])) or rules.match(p))]
        return sorted(look), sorted(new_untracked)


_pending: list[FindScan] = []


def prestart(argv: list[str]) -> None:
    """Start the pass for ``mops status`` before the command line is even parsed.

    Importing click and the command's modules takes tens of milliseconds; the find processes
    use them.  The command picks the pass up with :func:`take`; :func:`discard` drops it when
    the command ends any other way (a usage error, ``--help``), so it is never reused later.
    """
    if "--ignored" in argv or not enabled():
        return
    try:
        here = os.getcwd()
    except OSError:  # the current directory was deleted: the command reports it
        return
    while True:
        if os.path.isdir(os.path.join(here, DOT_DIR, "objects")):
            break
        parent = os.path.dirname(here)
        if parent == here:
            return
        here = parent
    try:
        _pending.append(FindScan(os.path.realpath(here)))
    except OSError:
        return


def take(root: str) -> FindScan | None:
    """The pass started for ``root`` by :func:`prestart`, if any."""
    sc = _pending.pop() if _pending else None
    if sc is not None and sc.root != root:
        sc.close()
        return None
    return sc


def discard() -> None:
    while _pending:
        _pending.pop().close()


def _weights(paths) -> dict[str, int]:
    """Tracked files per first- and second-level directory, to balance the next split."""
    weights: dict[str, int] = {}
    for p in paths:
        head, sep, rest = p.partition("/")
        if sep:
            weights[head] = weights.get(head, 0) + 1
            sub, sep2, _ = rest.partition("/")
            if sep2:
                k = head + "/" + sub
                weights[k] = weights.get(k, 0) + 1
    return weights


def expected_records(index) -> tuple[bytes, list[str], dict]:
    """(records, always, weights): one record per entry in index order, empty where the entry is
    always looked at; those paths; the subtree weights."""
    from .index import FLAG_POINTER

    paths = index.paths()
    ents = index.entries
    mt = index.mtime_ns
    G = _G
    recs = []
    always = []
    for p in paths:  # runs for every entry after each add: kept inline
        e = ents[p]
        if e[8] & FLAG_POINTER or mt == 0 or e[2] >= mt:
            recs.append(b"")
            always.append(p)
            continue
        ms, mn = divmod(e[2], G)
        cs, cn = divmod(e[3], G)
        recs.append(b"%d %d.%09d0 %d.%09d0 %d %o ./" % (e[1], ms, mn, cs, cn, e[4], e[0] & 0o7777) + os.fsencode(p))
    return b"\0".join(recs), always, _weights(paths)


def worktree_changes(repo, index, untracked: bool = True):
    """:func:`mops.worktree.worktree_changes` through the find pass where it is available."""
    if enabled():
        sc = FindScan(str(repo.root))
        try:
            ch = sc.changes(repo, lambda: index, untracked)
        finally:
            sc.close()
        if ch is not None:
            return ch
    from .worktree import worktree_changes as walk_changes

    return walk_changes(repo, index, untracked=untracked)
