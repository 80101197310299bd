"""mops status against a plain-dict model of what git would report, under random edits.

The machine creates, rewrites (often with same-size content, within one timestamp granule: the
racy case), chmods, deletes, adds, removes and syncs files in random order, and after every step
compares `status --porcelain -u`, `ls-files`, `diff` and `diff --staged` with the model.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from conftest import _run_inprocess
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

# no path is a prefix directory of another, so files never collide with directories
PATHS = ["a.txt", "b", "d/c.bin", "d/e/f", "ü ñ.txt", ".modelopsignore-not", "z.log"]
# several contents of the same size, so rewrites keep the size (the case the stat cache can miss)
CONTENTS = [b"", b"aaaa", b"bbbb", b"abab", b"x" * 100, b"y" * 100, b"0123456789" * 30]
IGNORE_RULES = "*.log\n"  # z.log is ignored until tracked with -f


def run(*args: str):
    return _run_inprocess(list(args))


class StatusMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.old_cwd = os.getcwd()
        self.tmp = tempfile.mkdtemp(prefix="mops-sm-")
        root = os.path.join(self.tmp, "proj")
        assert run("init", root).code == 0
        os.chdir(root)
        os.remove(".gitignore")
        with open(".modelopsignore", "w") as f:
            f.write(IGNORE_RULES)
        self.root = root
        # the model: path -> (content, executable)
        self.work: dict[str, tuple[bytes, bool]] = {".modelopsignore": (IGNORE_RULES.encode(), False)}
        self.index: dict[str, tuple[bytes, bool]] = {}
        self.base: dict[str, tuple[bytes, bool]] = {}

    def teardown(self):
        os.chdir(self.old_cwd)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the model of git's answers --------------------------------------------------------
    def ignored(self, p: str) -> bool:
        rules = self.work.get(".modelopsignore", (b"", False))[0]  # it may be deleted or rewritten
        return p.endswith(".log") and rules == IGNORE_RULES.encode()

    def expected_status(self) -> list[str]:
        lines = []
        for p in sorted(self.base.keys() | self.index.keys() | (self.work.keys() & self.index.keys())):
            b, i, w = self.base.get(p), self.index.get(p), self.work.get(p)
            x = " " if b == i else "A" if b is None else "D" if i is None else "M"
            y = " " if i is None or i == w else "D" if w is None else "M"
            if x != " " or y != " ":
                lines.append(f"{x}{y} {p}")
        lines += [f"?? {p}" for p in sorted(self.work) if p not in self.index and not self.ignored(p)]
        return lines

    # -- worktree edits ----------------------------------------------------------------------
    def _write(self, p: str, data: bytes, exe: bool) -> None:
        os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o755 if exe else 0o644)
        self.work[p] = (data, exe)

    @rule(p=st.sampled_from(PATHS), data=st.sampled_from(CONTENTS), exe=st.booleans())
    def write_file(self, p, data, exe):
        self._write(p, data, exe)

    @precondition(lambda self: self.work)
    @rule(data=st.data())
    def rewrite_same_size_keep_mtime(self, data):
        """Other bytes of the same size, and the old mtime put back: only content can tell."""
        p = data.draw(st.sampled_from(sorted(self.work)))
        old, exe = self.work[p]
        new = data.draw(st.sampled_from([c for c in CONTENTS if len(c) == len(old)] + [bytes(reversed(old))]))
        st_ = os.stat(p)
        self._write(p, new, exe)
        os.utime(p, ns=(st_.st_atime_ns, st_.st_mtime_ns))

    @precondition(lambda self: self.work)
    @rule(data=st.data())
    def toggle_exec(self, data):
        p = data.draw(st.sampled_from(sorted(self.work)))
        content, exe = self.work[p]
        os.chmod(p, 0o644 if exe else 0o755)
        self.work[p] = (content, not exe)

    @precondition(lambda self: self.work)
    @rule(data=st.data())
    def delete_file(self, data):
        p = data.draw(st.sampled_from(sorted(self.work)))
        os.remove(p)
        del self.work[p]

    # -- staging -------------------------------------------------------------------------------
    @rule(p=st.sampled_from(PATHS), force=st.booleans())
    def add_path(self, p, force):
        r = run("add", *(["-f"] if force else []), p)
        if p in self.work:
            if self.ignored(p) and p not in self.index and not force:
                assert r.code == 2, r.err
                return
            assert r.code == 0, r.err
            self.index[p] = self.work[p]
        elif p in self.index:  # a deleted tracked file: its deletion is staged
            assert r.code == 0, r.err
            del self.index[p]
        else:
            assert r.code == 1, r.err

    @rule()
    def add_all(self):
        assert run("add", "-A").code == 0
        for p in list(self.index):
            if p not in self.work:
                del self.index[p]
        for p, v in self.work.items():
            if p in self.index or not self.ignored(p):
                self.index[p] = v

    @rule()
    def add_dot(self):
        assert run("add", ".").code == 0
        for p, v in self.work.items():
            if p in self.index or not self.ignored(p):
                self.index[p] = v

    @rule(p=st.sampled_from(PATHS), cached=st.booleans(), via_remove=st.booleans())
    def rm_path(self, p, cached, via_remove):
        args = ["remove", p] if via_remove else ["rm", "--cached", p] if cached else ["rm", p]
        r = run(*args)
        if p not in self.index:
            assert r.code == 1, r.err
            return
        assert r.code == 0, r.err
        del self.index[p]
        if not (cached or via_remove):
            self.work.pop(p, None)

    @rule()
    def sync(self):
        """What a push records: the staged tree becomes the base (HEAD's bundle)."""
        from mops.repo import Repository

        tree = run("write-tree")
        assert tree.code == 0, tree.err
        assert run("update-ref", "refs/remotes/origin/latest", tree.out.strip()).code == 0
        Repository.find().refs.set_head("refs/remotes/origin/latest", tree.out.strip())
        self.base = dict(self.index)

    # -- what mops reports ---------------------------------------------------------------------
    @invariant()
    def reports_match_model(self):
        expected = self.expected_status()
        r = run("status", "--porcelain", "-u")
        assert r.code == 0, r.err
        assert r.out.splitlines() == expected
        assert run("ls-files").out.splitlines() == sorted(self.index)
        unstaged = [f"{line[1]}\t{line[3:]}" for line in expected if line[1] not in " ?"]
        assert run("diff").out.splitlines() == unstaged
        staged = [f"{line[0]}\t{line[3:]}" for line in expected if line[0] not in " ?"]
        assert run("diff", "--staged").out.splitlines() == staged


StatusMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
test_status_machine = StatusMachine.TestCase
