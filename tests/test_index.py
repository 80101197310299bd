"""The index file: round trips, the documented byte layout, corruption, and git's racy-timestamp rule."""

from __future__ import annotations

import hashlib
import os
import struct

import pytest
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mops.errors import CorruptIndex
from mops.index import Entry, Index, IndexLock

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# any path a filesystem could hand us as valid UTF-8: unicode, spaces, newlines — never NUL
component = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0/"), min_size=1, max_size=12).filter(
    lambda c: c not in (".", "..", ".modelops-bundle")
)
paths = st.lists(component, min_size=1, max_size=4).map("/".join)
u32, u64, i64 = st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.integers(-(2**63), 2**63 - 1)
entries = st.builds(Entry, u32, u64, i64, i64, u64, u64, st.binary(min_size=32, max_size=32), st.integers(0, 2), st.integers(0, 1))
indexes = st.dictionaries(paths, entries, max_size=30)


def as_entries(index: Index) -> dict[str, Entry]:
    return dict(index.items())


@PROPS
@given(ents=indexes)
def test_round_trip_bytes(ents):
    data = Index(dict(ents)).to_bytes()
    lazy = Index.from_bytes(data)  # records still packed: lookups unpack one at a time
    assert all(Entry._make(lazy.lookup(p)) == e for p, e in ents.items())
    assert lazy.lookup("\x00not there") is None and lazy.lookup("\U0010ffff\x00") is None  # no path holds NUL
    assert lazy.paths() == sorted(ents) and len(lazy) == len(ents)
    back = Index.from_bytes(data)
    assert as_entries(back) == ents
    assert list(back) == sorted(ents)
    # the same entries in another insertion order give the same bytes
    assert Index(dict(reversed(list(ents.items())))).to_bytes() == data


@PROPS
@given(ents=indexes, edits=st.lists(st.tuples(st.integers(0, 29), st.sampled_from(["set", "same", "del", "add"]),
                                              entries, paths), max_size=6))
def test_a_loaded_index_writes_what_a_fresh_one_would(ents, edits):
    """Writing a loaded index repacks only the entries that changed; the bytes must be exactly
    those of an index built from scratch with the same entries, whatever was edited."""
    loaded = Index.from_bytes(Index(dict(ents)).to_bytes())
    keys = sorted(ents)
    for i, what, e, p in edits:
        cur = loaded.entries
        if what == "add":
            cur[p] = e
        elif keys:
            k = keys[i % len(keys)]
            if what == "set" and k in cur:
                cur[k] = e
            elif what == "same" and k in cur:
                cur[k] = tuple(cur[k])  # an equal tuple, not the same object
            elif what == "del":
                cur.pop(k, None)
    expected = Index({p: Entry._make(v) for p, v in loaded.entries.items()}).to_bytes()
    assert loaded.to_bytes() == expected
    assert as_entries(Index.from_bytes(expected)) == {p: Entry._make(v) for p, v in loaded.entries.items()}


@PROPS
@given(ents=indexes)
def test_round_trip_through_the_lock(tmp_path, ents):
    path = tmp_path / "index"
    with IndexLock(path) as lock:
        lock.commit(Index(dict(ents)))
    assert not os.path.exists(str(path) + ".lock")
    back = Index.load(path)
    assert as_entries(back) == ents
    assert back.mtime_ns == os.stat(path).st_mtime_ns


def test_missing_index_is_empty(tmp_path):
    assert len(Index.load(tmp_path / "nope")) == 0


# An independent reader written from docs/FORMAT.md alone: if the code and the document drift
# apart, this fails.
def read_as_documented(data: bytes) -> dict[str, tuple]:
    assert data[:8] == b"MOPSIDX1"
    version, count, reserved = struct.unpack_from("<III", data, 8)
    assert (version, reserved) == (1, 0)
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]
    off = 20
    recs = []
    for _ in range(count):
        recs.append(struct.unpack_from("<IQqqQQ32sBB", data, off))
        off += 78
    names = data[off:-32].split(b"\0")
    assert names[-1] == b""
    return {n.decode("utf-8"): r for n, r in zip(names[:-1], recs, strict=True)}


def test_layout_matches_the_documentation():
    e1 = Entry(0o100755, 5, 1_700_000_000_123_456_789, 1_700_000_000_000_000_001, 42, 7, b"\x11" * 32, 2, 1)
    e2 = Entry(0o100644, 0, -1, 0, 0, 0, b"\xee" * 32, 0, 0)
    data = Index({"z/ü.bin": e1, "a b\n.txt": e2}).to_bytes()
    assert read_as_documented(data) == {"a b\n.txt": tuple(e2), "z/ü.bin": tuple(e1)}
    assert len(data) == 20 + 2 * 78 + len("a b\n.txt\0z/ü.bin\0".encode()) + 32
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "FORMAT.md"), encoding="utf-8").read()
    assert "MOPSIDX1" in doc and "78" in doc


def test_paths_sort_by_utf8_bytes():
    e = Entry(0o100644, 0, 0, 0, 0, 0, b"\0" * 32)
    names = ["b", "a/z", "a", "\u00e9", "\U0001f600", "\uffff", "A", "a-b", "a/b"]
    data = Index(dict.fromkeys(names, e)).to_bytes()
    assert list(read_as_documented(data)) == sorted(names, key=lambda s: s.encode("utf-8"))


# -- corruption ----------------------------------------------------------------------------
def good_index_bytes() -> bytes:
    e = Entry(0o100644, 3, 1, 1, 1, 1, b"\x01" * 32)
    return Index({"a.txt": e, "dir/b.txt": e}).to_bytes()


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, len(good_index_bytes()) - 1))
def test_truncated_index_is_corrupt(cut):
    with pytest.raises(CorruptIndex):
        Index.from_bytes(good_index_bytes()[:cut])


@settings(max_examples=200, deadline=None)
@given(pos=st.integers(0, len(good_index_bytes()) - 1), bit=st.integers(0, 7))
def test_flipped_bit_is_corrupt(pos, bit):
    data = bytearray(good_index_bytes())
    data[pos] ^= 1 << bit
    with pytest.raises(CorruptIndex):
        Index.from_bytes(bytes(data))


def resealed(body: bytes) -> bytes:
    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize(
    "body",
    [
        struct.pack("<8sIII", b"MOPSIDX1", 1, 5, 0),  # five records promised, none there
        struct.pack("<8sIII", b"MOPSIDX1", 1, 1, 0) + b"\0" * 78 + b"a",  # unterminated path
        struct.pack("<8sIII", b"MOPSIDX1", 1, 1, 0) + b"\0" * 78 + b"a\0b\0",  # two paths, one record
        struct.pack("<8sIII", b"MOPSIDX1", 1, 1, 0) + b"\0" * 78 + b"\xff\xfe\0",  # not UTF-8
        struct.pack("<8sIII", b"MOPSIDX1", 9, 0, 0),  # from the future
        struct.pack("<8sIII", b"MOPSIDX1", 1, 1, 0) + struct.pack("<IQqqQQ32sBB", 0o100644, 0, 0, 0, 0, 0, b"\0" * 32, 9, 0) + b"a\0",
        struct.pack("<8sIII", b"MOPSIDX1", 1, 0, 0) + b"stray\0",  # paths without records
    ],
    ids=["short", "unterminated", "count-mismatch", "not-utf8", "version", "storage-class", "stray-paths"],
)
def test_inconsistent_but_checksummed_index_is_corrupt(body):
    with pytest.raises(CorruptIndex):
        Index.from_bytes(resealed(body))


def _index_file(project):
    return project / ".modelops-bundle" / "index"


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage", "bad-storage-class"])
@pytest.mark.parametrize("cmd", [["status"], ["status", "--porcelain"], ["add", "."], ["ls-files", "-s"], ["diff"], ["write-tree"], ["rm", "--cached", "a"]])
def test_corrupt_index_exits_2_with_recovery_hint(project, run, damage, cmd):
    write("a", "1")
    write("b", "22")
    assert run("add", "a", "b").code == 0
    idx = _index_file(project)
    data = idx.read_bytes()
    if damage == "truncate":
        idx.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        idx.write_bytes(data[:30] + bytes([data[30] ^ 0xFF]) + data[31:])
    elif damage == "empty":
        idx.write_bytes(b"")
    elif damage == "garbage":
        idx.write_bytes(os.urandom(500))
    else:
        body = bytearray(data[:-32])
        body[20 + 76] = 9  # first record's storage class
        idx.write_bytes(resealed(bytes(body)))
    before = idx.read_bytes()
    r = run(*cmd)
    assert r.code == 2, r.err
    assert "Traceback" not in r.err and "internal error" not in r.err
    assert "index" in r.err and "corrupt" in r.err
    assert "hint:" in r.err and "mops add -A" in r.err  # how to recover
    assert idx.read_bytes() == before  # nothing rewritten
    assert not os.path.exists(str(idx) + ".lock")  # the lock was released


def test_the_recovery_hint_works(project, run):
    write("a", "1")
    write("d/b", "22")
    run("add", "a", "d")
    _index_file(project).write_bytes(b"junk")
    r = run("status")
    hint = next(line for line in r.err.splitlines() if line.startswith("hint:"))
    assert "mv .modelops-bundle/index" in hint
    os.rename(_index_file(project), project / "index.bad")  # what the hint says to do
    assert run("add", "-A").code == 0
    assert run("ls-files").out == "a\nd/b\nindex.bad\n"


# -- the racy-timestamp rule ---------------------------------------------------------------
def test_racy_same_size_rewrite_with_mtime_restored_is_modified(project, run):
    """Write, add, rewrite the same number of bytes and put the recorded mtime back: still M."""
    write("f.txt", "aaaa")
    assert run("add", "f.txt").code == 0
    recorded = os.stat("f.txt")
    write("f.txt", "bbbb")
    os.utime("f.txt", ns=(recorded.st_atime_ns, recorded.st_mtime_ns))
    assert os.stat("f.txt").st_mtime_ns == recorded.st_mtime_ns
    assert run("status", "--porcelain").out == "AM f.txt\n"
    assert run("diff").out == "M\tf.txt\n"
    assert run("ls-files", "-m").out == "f.txt\n"
    assert run("add", "f.txt").code == 0
    assert run("status", "--porcelain").out == "A  f.txt\n"
    assert run("cat-file", "-p", "sha256:" + hashlib.sha256(b"bbbb").hexdigest()).out == "bbbb"


def _forge_stat_match(project, rel: str, index_mtime_ns: int) -> None:
    """Make the index record the file's *current* stat data with its *old* digest — what the
    index holds when a file is rewritten within the timestamp granule of the add that staged it —
    and give the index file the mtime ``index_mtime_ns``."""
    from mops.index import entry_from_stat

    idx_path = _index_file(project)
    index = Index.load(idx_path)
    old = index.get(rel)
    index.entries[rel] = entry_from_stat(os.stat(rel), old.digest)
    with IndexLock(idx_path) as lock:
        lock.commit(index)
    os.utime(idx_path, ns=(index_mtime_ns, index_mtime_ns))


def test_racy_entry_is_rehashed_even_when_stat_data_matches(project, run):
    write("f.txt", "aaaa")
    assert run("add", "f.txt").code == 0
    write("f.txt", "bbbb")
    mtime = os.stat("f.txt").st_mtime_ns
    _forge_stat_match(project, "f.txt", index_mtime_ns=mtime)  # index not strictly newer: racy
    assert run("status", "--porcelain").out == "AM f.txt\n"
    assert run("ls-files", "-m").out == "f.txt\n"
    assert run("add", "f.txt").code == 0  # add must not trust the racy stat data either
    assert run("status", "--porcelain").out == "A  f.txt\n"
    assert run("ls-files", "-s").out.split()[1] == "sha256:" + hashlib.sha256(b"bbbb").hexdigest()


def test_entry_older_than_index_is_trusted_without_reading(project, run):
    """The counterpart: with the index strictly newer, matching stat data means unchanged — the
    file is not read, which is why the racy rule above is needed at all."""
    write("f.txt", "aaaa")
    assert run("add", "f.txt").code == 0
    write("f.txt", "bbbb")
    mtime = os.stat("f.txt").st_mtime_ns
    _forge_stat_match(project, "f.txt", index_mtime_ns=mtime + 10**9)
    assert run("status", "--porcelain").out == "A  f.txt\n"


def test_status_refreshes_racy_entries_it_proved_clean(project, run):
    write("f.txt", "aaaa")
    assert run("add", "f.txt").code == 0
    mtime = os.stat("f.txt").st_mtime_ns
    os.utime(_index_file(project), ns=(mtime, mtime))  # make the entry racy
    assert Index.load(_index_file(project)).is_racy(Index.load(_index_file(project)).get("f.txt"))
    assert run("status", "--porcelain").out == "A  f.txt\n"
    assert run("status", "--porcelain").out == "A  f.txt\n"


def test_mode_change_alone_is_a_modification(project, run):
    write("run.sh", "#!/bin/sh\n", mode=0o644)
    run("add", "run.sh")
    os.chmod("run.sh", 0o755)
    assert run("status", "--porcelain").out == "AM run.sh\n"
    run("add", "run.sh")
    assert run("ls-files", "-s").out.startswith("0755 ")
