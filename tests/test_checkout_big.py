"""Big downloads are received, hashed and written by three threads: every byte still checked.

From ``READ_AHEAD_MIN`` bytes a file is read ahead, hashed in a helper thread and handed to
the disk early; these tests make sure that path refuses what the small-file path refuses and
leaves nothing behind (no temp file, no thread) when it does.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest

from mops.checkout import READ_AHEAD_MIN, BatchWriter, write_verified
from mops.errors import IntegrityError

SIZE = READ_AHEAD_MIN + 3 * (1 << 20) + 12345  # not a multiple of any chunk size


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(SIZE)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def leftovers(d) -> list[str]:
    return sorted(p.name for p in d.iterdir())


class Failing(io.RawIOBase):
    """A download that breaks after ``after`` bytes."""

    def __init__(self, data: bytes, after: int):
        self.src, self.after, self.pos = io.BytesIO(data), after, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.after:
            raise ConnectionResetError("connection reset by peer")
        b = self.src.read(min(n, self.after - self.pos) if n >= 0 else self.after - self.pos)
        self.pos += len(b)
        return b


def test_big_file_is_written_whole(tmp_path, payload):
    st = write_verified(tmp_path / "model.bin", io.BytesIO(payload), digest(payload), SIZE, "0755")
    assert (tmp_path / "model.bin").read_bytes() == payload
    assert st.st_mode & 0o777 == 0o755
    assert leftovers(tmp_path) == ["model.bin"]


@pytest.mark.parametrize("where", [0, SIZE // 2, SIZE - 1])
def test_one_flipped_byte_is_refused_and_nothing_is_left(tmp_path, payload, where):
    bad = bytearray(payload)
    bad[where] ^= 0x01
    threads = threading.active_count()
    with pytest.raises(IntegrityError) as e:
        write_verified(tmp_path / "model.bin", io.BytesIO(bytes(bad)), digest(payload), SIZE)
    assert e.value.exit_code == 11 and "model.bin" in e.value.message
    assert leftovers(tmp_path) == []
    assert threading.active_count() == threads


def test_short_download_is_refused(tmp_path, payload):
    with pytest.raises(IntegrityError):
        write_verified(tmp_path / "model.bin", io.BytesIO(payload[:-1]), digest(payload), SIZE)
    assert leftovers(tmp_path) == []


def test_broken_connection_propagates_and_cleans_up(tmp_path, payload):
    threads = threading.active_count()
    with BatchWriter() as batch, pytest.raises(ConnectionResetError):
        batch.add(tmp_path / "model.bin", Failing(payload, SIZE // 3), digest(payload), SIZE)
    assert leftovers(tmp_path) == []
    assert threading.active_count() == threads
