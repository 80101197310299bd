"""The shared cache: verified before visible, read-only, once per machine, safe against tampering."""

from __future__ import annotations

import io
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mops import digest as dg
from mops.cache import OBJECT_MTIME_NS, Cache, default_root
from mops.errors import IntegrityError


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.delenv("MOPS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "mops"
    monkeypatch.setenv("MOPS_CACHE", str(tmp_path / "explicit"))
    assert default_root() == tmp_path / "explicit"


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=5000))
def test_objects_are_verified_read_only_and_stable(tmp_path_factory, data):
    c = Cache(tmp_path_factory.mktemp("c"))
    d = dg.of_bytes(data)
    p, fetched = c.ensure(d, len(data), lambda: io.BytesIO(data))
    assert fetched and p.read_bytes() == data
    st_ = os.stat(p)
    assert st_.st_mode & 0o777 == 0o444 and st_.st_mtime_ns == OBJECT_MTIME_NS
    assert c.ensure(d, len(data), lambda: pytest.fail("fetched twice")) == (p, False)


def test_wrong_bytes_never_become_visible(tmp_path):
    c = Cache(tmp_path)
    d = dg.of_bytes(b"right")
    with pytest.raises(IntegrityError):
        c.ensure(d, 5, lambda: io.BytesIO(b"wrong"))
    assert not c.has(d)
    assert os.listdir(tmp_path / "tmp") == []


def test_tampered_object_is_replaced(tmp_path):
    c = Cache(tmp_path)
    d = dg.of_bytes(b"right")
    p, _ = c.ensure(d, 5, lambda: io.BytesIO(b"right"))
    os.chmod(p, 0o644)
    p.write_bytes(b"RIGHT")  # same size, new mtime: no longer trusted
    assert not c.intact(d, 5)
    p2, fetched = c.ensure(d, 5, lambda: io.BytesIO(b"right"))
    assert fetched and p2.read_bytes() == b"right"


def test_threads_share_one_download(tmp_path):
    c = Cache(tmp_path)
    data = os.urandom(200_000)
    d = dg.of_bytes(data)
    calls = []

    def opener():
        calls.append(1)
        return io.BytesIO(data)

    threads = [threading.Thread(target=c.ensure, args=(d, len(data), opener)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and c.read_bytes(d) == data
