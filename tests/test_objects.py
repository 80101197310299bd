"""The object store: ids are sha256 of the raw bytes, writes are atomic and idempotent, big files stay put."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mops.errors import ConflictError, IntegrityError, NotFound
from mops.objects import COMPRESS_MAX, ZSTD_MAGIC, ObjectStore, kind_of_bytes

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# contents that exercise every storage form: tiny, compressible, incompressible, zstd look-alikes
contents = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=1, max_size=64).map(lambda b: b * 40),  # compresses well
    st.binary(max_size=200).map(lambda b: ZSTD_MAGIC + b),  # raw bytes that look like a zstd frame
    st.binary(max_size=200).map(lambda b: ZSTD_MAGIC + b"\x00" * 500 + b),
)


def files_under(d) -> list[str]:
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _ds, fs in os.walk(d) for f in fs)


def tmp_leftovers(store: ObjectStore) -> list[str]:
    return os.listdir(store.tmpdir) if store.tmpdir.is_dir() else []


@PROPS
@given(data=contents)
def test_put_get_round_trip_and_id_is_sha256(tmp_path, data):
    store = ObjectStore(tmp_path / "objects")
    d = store.put_bytes(data)
    assert d == "sha256:" + hashlib.sha256(data).hexdigest()
    assert store.has(d)
    assert store.read(d) == data
    assert store.size(d) == len(data)
    with store.open(d) as f:
        assert f.read() == data
    assert store.verify(d)
    assert tmp_leftovers(store) == []


@PROPS
@given(data=contents)
def test_put_stream_and_file_agree_with_put_bytes(tmp_path, data):
    a = ObjectStore(tmp_path / "a")
    b = ObjectStore(tmp_path / "b")
    c = ObjectStore(tmp_path / "c")
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    da = a.put_bytes(data)
    db, nb = b.put_stream(io.BytesIO(data))
    dc, nc = c.put_file(p)
    assert da == db == dc and nb == nc == len(data)
    for s in (a, b, c):
        assert s.read(da) == data
        assert tmp_leftovers(s) == []


def test_put_is_idempotent(tmp_path):
    store = ObjectStore(tmp_path / "objects")
    data = b"same bytes " * 100
    d1 = store.put_bytes(data)
    st1 = os.stat(store.path_for(d1))
    d2 = store.put_bytes(data)
    d3, _ = store.put_stream(io.BytesIO(data))
    assert d1 == d2 == d3
    assert os.stat(store.path_for(d1)).st_mtime_ns == st1.st_mtime_ns  # not rewritten
    assert files_under(store.root / "sha256") == [f"{d1[7:9]}/{d1[7:]}"]
    assert list(store) == [d1]


def test_objects_are_read_only_on_disk(tmp_path):
    store = ObjectStore(tmp_path / "objects")
    d = store.put_bytes(b"payload")
    assert os.stat(store.path_for(d)).st_mode & 0o222 == 0


@pytest.mark.parametrize("size", [COMPRESS_MAX + 17, 3 * COMPRESS_MAX])
def test_large_zstd_lookalike_round_trips(tmp_path, size):
    """A big raw file that starts with the zstd magic must not be mistaken for a compressed object."""
    store = ObjectStore(tmp_path / "objects")
    data = ZSTD_MAGIC + os.urandom(size - 4)
    p = write(tmp_path / "f", data)
    d, n = store.put_file(p)
    assert n == size and d == "sha256:" + hashlib.sha256(data).hexdigest()
    assert store.read(d) == data
    assert store.size(d) == size
    assert tmp_leftovers(store) == []


def test_large_plain_file_is_stored_raw(tmp_path):
    store = ObjectStore(tmp_path / "objects")
    data = b"\0" * (COMPRESS_MAX + 1)  # compressible, but big objects stay raw (linkable)
    d, _ = store.put_file(write(tmp_path / "f", data))
    assert store.is_raw(d)
    assert os.path.getsize(store.path_for(d)) == len(data)


def test_stream_mismatch_installs_nothing_and_leaves_no_temp(tmp_path):
    store = ObjectStore(tmp_path / "objects")
    wrong = "sha256:" + "0" * 64
    with pytest.raises(IntegrityError) as ei:
        store.put_stream(io.BytesIO(b"hello"), expected=wrong)
    assert wrong in str(ei.value)
    with pytest.raises(IntegrityError):
        store.put_stream(io.BytesIO(b"hello"), expected_size=4)
    assert list(store) == []
    assert tmp_leftovers(store) == []


def test_interrupted_write_leaves_no_object_and_no_temp(tmp_path):
    class Exploding(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 0:
                raise KeyboardInterrupt
            return super().read(10)

    store = ObjectStore(tmp_path / "objects")
    with pytest.raises(KeyboardInterrupt):
        store.put_stream(Exploding(b"x" * 100))
    assert list(store) == []
    assert tmp_leftovers(store) == []


def test_corrupt_object_is_detected(tmp_path):
    store = ObjectStore(tmp_path / "objects")
    d = store.put_bytes(os.urandom(100), compress=False)
    p = store.path_for(d)
    os.chmod(p, 0o644)
    p.write_bytes(b"tampered")
    assert not store.verify(d)
    with pytest.raises(IntegrityError) as ei:
        store.read(d)
    assert d in str(ei.value)


def test_missing_object_is_not_found(tmp_path):
    store = ObjectStore(tmp_path / "objects")
    d = "sha256:" + "ab" * 32
    with pytest.raises(NotFound) as ei:
        store.read(d)
    assert d in str(ei.value)
    assert not store.verify(d)


def test_kind_is_told_from_content():
    assert kind_of_bytes(b'{"schemaVersion":1,"files":[]}') == "tree"
    assert kind_of_bytes(b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}') == "manifest"
    assert kind_of_bytes(b'{"schemaVersion":1}') == "blob"
    assert kind_of_bytes(b"\xff\xfe not json") == "blob"
    assert kind_of_bytes(b"[1,2]") == "blob"


# -- through the CLI -----------------------------------------------------------------------
def test_cat_file_modes(project, run):
    data = b"line one\nline two\n" * 10
    d = run("hash-object", "-w", write("f.txt", data)).out.strip()
    assert run("cat-file", "-t", d).out == "blob\n"
    assert run("cat-file", "-s", d).out == f"{len(data)}\n"
    assert run("cat-file", "-p", d).out_bytes == data
    assert run("cat-file", "-e", d).code == 0 and run("cat-file", "-e", d).out == ""
    tree = run("write-tree").out.strip()
    assert run("cat-file", "-t", tree).out == "tree\n"


def test_cat_file_missing_and_corrupt(project, run):
    missing = "sha256:" + "cd" * 32
    assert run("cat-file", "-e", missing).code == 1
    r = run("cat-file", "-p", missing)
    assert r.code == 1 and missing in r.err
    d = run("hash-object", "-w", write("f", os.urandom(200))).out.strip()
    p = project / ".modelops-bundle" / "objects" / "sha256" / d[7:9] / d[7:]
    os.chmod(p, 0o644)
    p.write_bytes(b"bit rot")
    assert run("cat-file", "-e", d).code == 1
    r = run("fsck")
    assert r.code == 11 and d in r.out


def test_hash_object_w_stores_stdin(project, run):
    r = run("hash-object", "-w", "--stdin", stdin=b"from stdin\n")
    d = r.out.strip()
    assert d == "sha256:" + hashlib.sha256(b"from stdin\n").hexdigest()
    assert run("cat-file", "-p", d).out_bytes == b"from stdin\n"


def test_add_leaves_no_temp_files(project, run):
    for i in range(20):
        write(f"d/f{i}", os.urandom(i * 100))
    assert run("add", ".").code == 0
    tmp = project / ".modelops-bundle" / "objects" / "tmp"
    assert not tmp.exists() or os.listdir(tmp) == []
    assert run("fsck").code == 0


# -- big files -----------------------------------------------------------------------------
def _reflink_works(d) -> bool:
    from mops.fsutil import try_reflink

    a, b = d / ".probe-a", d / ".probe-b"
    a.write_bytes(b"x" * 4096)
    try:
        with open(a, "rb") as s, open(b, "wb") as t:
            return try_reflink(s.fileno(), t.fileno())
    finally:
        a.unlink()
        b.unlink(missing_ok=True)


def _store_bytes(project) -> int:
    root = project / ".modelops-bundle" / "objects"
    return sum(os.path.getsize(os.path.join(r, f)) for r, _d, fs in os.walk(root) for f in fs)


@pytest.fixture
def big_project(project, run):
    r = run("config", "set", "core.big_file_threshold", "64K")
    if r.code != 0:  # the config command is not built yet: write the file it would write
        (project / ".modelops-bundle" / "config.yaml").write_text("core:\n  big_file_threshold: 64K\n")
    return project


def test_big_file_is_not_copied_into_the_store(big_project, run):
    data = os.urandom(300 * 1024)
    write("model.bin", data)
    write("small.txt", "small")
    assert run("add", ".").code == 0
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert run("ls-files", "-s").out.splitlines()[0].split()[1] == digest
    if not _reflink_works(big_project / ".modelops-bundle" / "objects"):
        assert _store_bytes(big_project) < len(data)  # recorded, not copied
    # yet it is still readable by digest (from the worktree, verified)
    assert run("cat-file", "-s", digest).out == f"{len(data)}\n"
    assert run("cat-file", "-p", digest).out_bytes == data
    assert run("cat-file", "-t", digest).out == "blob\n"
    assert run("status", "--porcelain").out == "A  model.bin\nA  small.txt\n"
    assert run("fsck").code == 0
    # checkout-index leaves the intact worktree copy alone
    assert run("checkout-index", "-a").code == 0
    assert (big_project / "model.bin").read_bytes() == data


def test_big_file_modified_after_add_is_refused_when_read(big_project, run):
    from mops.repo import Repository
    from mops.worktree import open_staged

    data = os.urandom(200 * 1024)
    write("model.bin", data)
    assert run("add", "model.bin").code == 0
    write("model.bin", os.urandom(200 * 1024))  # same size, other bytes
    repo = Repository.find()
    entry = repo.load_index().get("model.bin")
    if repo.objects.has(entry.digest):
        pytest.skip("the filesystem made a reflink copy: the staged content is safe in the store")
    with pytest.raises(ConflictError) as ei:
        with open_staged(repo, "model.bin", entry) as f:
            while f.read(1 << 16):
                pass
    assert ei.value.exit_code == 12
    assert "modified since it was staged; run mops add model.bin" in str(ei.value)
    assert run("status", "--porcelain").out == "AM model.bin\n"
    r = run("cat-file", "-p", entry.digest)
    assert r.code != 0 and "model.bin" in r.err
    assert run("add", "model.bin").code == 0
    assert run("status", "--porcelain").out == "A  model.bin\n"


def test_big_file_deleted_cannot_be_checked_out(big_project, run):
    write("model.bin", os.urandom(100 * 1024))
    assert run("add", "model.bin").code == 0
    if _reflink_works(big_project / ".modelops-bundle" / "objects"):
        pytest.skip("the filesystem made a reflink copy")
    os.remove("model.bin")
    r = run("checkout-index", "-a")
    assert r.code == 11 and "model.bin" in r.err
    assert "Traceback" not in r.err
