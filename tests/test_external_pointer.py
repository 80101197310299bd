"""Lazy pointer files (docs/FORMAT.md, "Pointer files"): the format, and telling one from content."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mops import pointer
from mops.errors import UsageError

hexes = st.text("0123456789abcdef", min_size=64, max_size=64)
paths = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=200)
pointers = st.builds(
    pointer.Pointer,
    digest=hexes.map(lambda h: "sha256:" + h),
    size=st.integers(min_value=0, max_value=2**63 - 1),
    uri=hexes.map(lambda h: f"s3://bucket/prefix/sha256/{h[:2]}/{h[2:4]}/{h}"),
    path=paths,
)


@given(pointers)
def test_bytes_round_trip(p):
    data = p.to_bytes()
    assert data.startswith(pointer.PREFIX) and data.endswith(b"\n") and data.count(b"\n") == 1
    assert pointer.Pointer.from_bytes(data) == p


@settings(max_examples=50, deadline=None)
@given(pointers)
def test_written_pointer_is_detected(tmp_path_factory, p):
    f = tmp_path_factory.mktemp("ptr") / "model.bin"
    pointer.write(f, p)
    assert pointer.is_pointer(f)
    assert pointer.read(f) == p
    assert pointer.points_to(f, p.digest)
    assert not pointer.points_to(f, "sha256:" + "0" * 64) or p.digest == "sha256:" + "0" * 64


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_content_is_not_a_pointer(tmp_path_factory, data):
    f = tmp_path_factory.mktemp("bin") / "data.bin"
    f.write_bytes(data)
    assert pointer.is_pointer(f) is False


def test_readers_accept_any_key_order_and_extra_keys(tmp_path):
    h = "ab" * 32
    doc = {"path": "w.bin", "uri": f"file:///s/sha256/ab/ab/{h}", "size": 3, "digest": f"sha256:{h}",
           "mops-pointer": 1, "future": "ignored"}
    f = tmp_path / "w.bin"
    f.write_text(json.dumps(doc, indent=2))
    assert pointer.read(f).size == 3
    # detection is stricter: only the exact form writers produce is recognised by status
    assert pointer.is_pointer(f) is False


@pytest.mark.parametrize("doc", [
    {"mops-pointer": 2, "digest": "sha256:" + "a" * 64, "size": 1, "uri": "u", "path": "p"},
    {"mops-pointer": True, "digest": "sha256:" + "a" * 64, "size": 1, "uri": "u", "path": "p"},
    {"mops-pointer": 1, "digest": "md5:abc", "size": 1, "uri": "u", "path": "p"},
    {"mops-pointer": 1, "digest": "sha256:" + "a" * 64, "size": -1, "uri": "u", "path": "p"},
    {"mops-pointer": 1, "digest": "sha256:" + "a" * 64, "size": 1, "uri": "", "path": "p"},
    {"mops-pointer": 1, "digest": "sha256:" + "a" * 64, "size": 1, "uri": "u"},
])
def test_malformed_pointers_are_refused(tmp_path, doc):
    f = tmp_path / "x"
    f.write_text(json.dumps(doc, separators=(",", ":")))
    with pytest.raises(UsageError):
        pointer.read(f)
    assert not pointer.is_pointer(f)


def test_big_file_starting_like_a_pointer_is_content(tmp_path):
    h = "cd" * 32
    p = pointer.Pointer(f"sha256:{h}", 5, f"gs://b/sha256/cd/cd/{h}", "x.bin")
    f = tmp_path / "x.bin"
    f.write_bytes(p.to_bytes() + b" " * pointer.MAX_SIZE)
    assert not pointer.is_pointer(f)


def test_symlink_to_a_pointer_is_not_a_pointer(tmp_path):
    h = "ef" * 32
    real = tmp_path / "real"
    pointer.write(real, pointer.Pointer(f"sha256:{h}", 5, f"gs://b/sha256/ef/ef/{h}", "x.bin"))
    os.symlink(real, tmp_path / "link")
    assert pointer.is_pointer(real) and not pointer.is_pointer(tmp_path / "link")
