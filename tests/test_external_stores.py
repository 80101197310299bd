"""External object stores for real: file://, S3 (moto), Azure Blob (Azurite), GCS (fake-gcs-server).

Every test here talks to a real server on 127.0.0.1 that tests/services.py starts; off CI a
missing server skips, on CI it fails.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from services import AUTH_BUCKET, S3_ENV, azurite_connection_string, free_port

from mops.errors import AuthError, IntegrityError, RemoteUnavailable
from mops.external import EtagBook, object_key, open_store, run_bounded, split_uri

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def blob(n: int, seed: int = 0) -> tuple[bytes, str]:
    data = (hashlib.sha256(str(seed).encode()).digest() * (n // 32 + 1))[:n] if n < 4096 else os.urandom(n)
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def opener(data: bytes):
    return lambda: io.BytesIO(data)


def tamper(store, digest: str, data: bytes) -> None:
    """Overwrite an object behind mops' back, as a careless tool or a bad disk would."""
    key = object_key(digest)
    if hasattr(store, "root"):  # file://
        p = store.root / key
        os.chmod(p, 0o644)
        p.write_bytes(data)
    else:
        store.fs.pipe_file(store._path(key), data)


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_round_trip_is_byte_identical(any_store, tmp_path):
    store = any_store.open()
    data, digest = blob(300_000)
    assert store.stat(digest) is None
    assert store.upload(digest, len(data), opener(data)) is True
    info = store.stat(digest)
    assert info is not None and info.size == len(data)
    out = tmp_path / "out.bin"
    store.download(digest, len(data), out)
    assert out.read_bytes() == data
    assert store.uri_for(digest) == f"{any_store.url}/sha256/{digest[7:9]}/{digest[9:11]}/{digest[7:]}"
    assert split_uri(store.uri_for(digest)) == (any_store.url, digest)


def test_multipart_sized_object_round_trips(any_store, tmp_path):
    from mops.external import PART_SIZE

    data, digest = blob(PART_SIZE + 12345)
    store = any_store.open()
    assert store.upload(digest, len(data), opener(data))
    store.download(digest, len(data), tmp_path / "big", mode="0755")
    assert (tmp_path / "big").read_bytes() == data
    assert os.stat(tmp_path / "big").st_mode & 0o777 == 0o755
    assert store.verify(digest, len(data), full=True).ok


def test_same_content_under_two_paths_is_one_object(any_store):
    """Two files with equal bytes share one URI; the second upload moves nothing."""
    store = any_store.open()
    data, digest = blob(5000, seed=1)
    uploads = [store.upload(digest, len(data), opener(data)) for _path in ("models/a.bin", "copies/b.bin")]
    assert uploads == [True, False]
    assert list(store.digests()) == [digest]


def test_parallel_uploads_are_bounded_and_complete(any_store):
    store = any_store.open()
    blobs = [blob(1000 + i, seed=i) for i in range(8)]
    moved = run_bounded(lambda b: store.upload(b[1], len(b[0]), opener(b[0])), blobs, concurrency=3)
    assert moved == [True] * 8
    assert sorted(store.digests()) == sorted(d for _b, d in blobs)


def test_tampered_object_is_refused_and_leaves_no_file(any_store, tmp_path):
    store = any_store.open()
    data, digest = blob(4096 * 4, seed=2)
    store.upload(digest, len(data), opener(data))
    etag = store.stat(digest).etag
    bad = bytes([data[0] ^ 1]) + data[1:]
    tamper(store, digest, bad)
    dest_dir = tmp_path / "dest"
    dest_dir.mkdir()
    (dest_dir / "keep.bin").write_bytes(b"old content")
    with pytest.raises(IntegrityError) as ei:
        store.download(digest, len(data), dest_dir / "keep.bin")
    assert ei.value.exit_code == 11
    assert store.uri_for(digest) in ei.value.message
    with pytest.raises(IntegrityError):
        store.download(digest, len(data), dest_dir / "new.bin")
    assert leftovers(dest_dir) == ["keep.bin"]  # no temp file, no partial new.bin
    assert (dest_dir / "keep.bin").read_bytes() == b"old content"
    # verify: the full digest catches it; a recorded etag catches it without reading the bytes
    assert not store.verify(digest, len(data), full=True).ok
    quick = store.verify(digest, len(data), etag=etag)
    if etag is not None:
        assert not quick.ok and "changed" in quick.problem


def test_verify_reports_missing_and_wrong_size(any_store):
    store = any_store.open()
    data, digest = blob(2048, seed=3)
    missing = store.verify(digest, len(data))
    assert not missing.ok and "missing" in missing.problem
    store.upload(digest, len(data), opener(data))
    assert store.verify(digest, len(data)).ok
    tamper(store, digest, data + b"x")
    check = store.verify(digest, len(data))
    assert not check.ok and "size" in check.problem


def test_missing_object_download_exits_11_naming_the_uri(any_store, tmp_path):
    store = any_store.open()
    other, other_digest = blob(10, seed=44)
    store.upload(other_digest, 10, opener(other))  # the store exists, this object does not
    _data, digest = blob(10, seed=4)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(IntegrityError) as ei:
        store.download(digest, 10, dest / "x")
    assert store.uri_for(digest) in ei.value.message
    assert leftovers(dest) == []


def test_upload_of_wrong_bytes_publishes_nothing(any_store):
    """Bytes that do not hash to the digest (a file edited after staging) never become the object."""
    store = any_store.open()
    data, digest = blob(3000, seed=5)
    with pytest.raises(IntegrityError):
        store.upload(digest, len(data), opener(b"y" * len(data)))
    assert store.stat(digest) is None


def test_upload_interrupted_midway_publishes_nothing(any_store):
    from mops.external import PART_SIZE

    class Broken(io.RawIOBase):
        """Yields more than a multipart part, then fails like a vanished disk."""

        def __init__(self):
            self.n = 0

        def readable(self):
            return True

        def read(self, n=-1):
            if self.n > PART_SIZE + 1:
                raise OSError("disk went away")
            self.n += 1 << 20
            return b"z" * (1 << 20)

    store = any_store.open()
    digest = "sha256:" + "ab" * 32
    with pytest.raises(OSError, match="disk went away"):
        store.upload(digest, 40 << 20, Broken)
    assert store.stat(digest) is None
    assert list(store.digests()) == []


def test_etag_book_round_trip(tmp_path, file_store):
    store = file_store.open()
    data, digest = blob(100, seed=6)
    store.upload(digest, len(data), opener(data))
    book = EtagBook(tmp_path / "etags.json")
    book.record(store.uri_for(digest), len(data), store.stat(digest).etag)
    book.save()
    again = EtagBook(tmp_path / "etags.json")
    assert again.get(store.uri_for(digest), len(data)) == store.stat(digest).etag
    assert again.get(store.uri_for(digest), len(data) + 1) is None


# -- unreachable and refusing stores --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_unreachable_store_exits_3_naming_the_uri(kind, tmp_path, monkeypatch):
    port = free_port()  # nothing listens there
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if kind == "s3":
        for k, v in S3_ENV.items():
            monkeypatch.setenv(k, v)
        url, opts = "s3://bucket/models", {"endpoint_url": endpoint}
    elif kind == "azure":
        pytest.importorskip("adlfs")
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string(endpoint))
        url, opts = "az://container/models", {}
    else:
        pytest.importorskip("gcsfs")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        url, opts = "gs://bucket/models", {}
    if kind == "s3":
        pytest.importorskip("s3fs")
    store = open_store(url, opts)
    data, digest = blob(10, seed=7)
    for action in (lambda: store.stat(digest), lambda: store.upload(digest, 10, opener(data)),
                   lambda: store.download(digest, 10, tmp_path / "out")):
        with pytest.raises(RemoteUnavailable) as ei:
            action()
        assert ei.value.exit_code == 3
        assert url in ei.value.message
    assert leftovers(tmp_path) == []


def test_local_store_that_does_not_exist_is_unavailable_on_download(tmp_path):
    store = open_store((tmp_path / "not-mounted").as_uri(), {})
    data, digest = blob(10, seed=8)
    assert store.stat(digest) is None  # a first push into a new directory is fine...
    with pytest.raises(RemoteUnavailable) as ei:  # ...but a pull from nowhere is exit 3
        store.download(digest, 10, tmp_path / "out")
    assert "not-mounted" in ei.value.message


SECRET = "S3cr3tValueThatMustNeverBePrinted"


def test_s3_refused_credentials_exit_10_without_the_secret(moto_auth_server, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTISSUEDBYMOTO")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_store(f"s3://{AUTH_BUCKET}/models", {"endpoint_url": moto_auth_server.endpoint})
    data, digest = blob(10, seed=9)
    for action in (lambda: store.stat(digest), lambda: store.upload(digest, 10, opener(data)),
                   lambda: store.download(digest, 10, tmp_path / "out")):
        with pytest.raises(AuthError) as ei:
            action()
        e = ei.value
        assert e.exit_code == 10 and f"s3://{AUTH_BUCKET}/models" in e.message
        assert SECRET not in e.message + (e.hint or "")
        assert "AWS_ACCESS_KEY_ID" in e.hint
    assert leftovers(tmp_path) == []


def test_azure_wrong_account_key_exits_10_without_the_key(azurite_server, monkeypatch, tmp_path):
    import base64

    wrong_key = base64.b64encode(SECRET.encode() * 2).decode()
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string(azurite_server.endpoint, wrong_key))
    store = open_store("az://container/models", {})
    data, digest = blob(10, seed=10)
    for action in (lambda: store.stat(digest), lambda: store.download(digest, 10, tmp_path / "out")):
        with pytest.raises(AuthError) as ei:
            action()
        text = ei.value.message + (ei.value.hint or "")
        assert "az://container/models" in text
        assert wrong_key not in text and SECRET not in text
    assert leftovers(tmp_path) == []


def test_source_error_keeps_its_own_exit_code(file_store):
    """A worktree file edited since staging fails the upload with ITS error (12), not a store error."""
    from mops.errors import ConflictError

    class Edited(io.BytesIO):
        def read(self, n=-1):
            raise ConflictError("model.bin: changed since it was staged")

    store = file_store.open()
    data, digest = blob(100, seed=11)
    with pytest.raises(ConflictError) as ei:
        store.upload(digest, len(data), lambda: Edited(data))
    assert ei.value.exit_code == 12
    assert store.stat(digest) is None


def test_part_size_keeps_any_object_within_the_part_limit():
    from mops.external import MAX_PARTS, PART_SIZE, part_size_for

    assert part_size_for(0) == part_size_for(1 << 30) == PART_SIZE
    for size in (80 << 30, 1 << 40, 5 << 40):
        part = part_size_for(size)
        assert -(-size // part) <= MAX_PARTS and part % (1 << 20) == 0
