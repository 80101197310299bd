"""Large uploads against a real registry: the read-ahead body, one hash per byte, a worktree file
that changes after `mops add` (exit 12 naming it), and no reader thread left behind."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest
from conftest import write

from mops import registry as regmod
from mops.errors import ConflictError, IntegrityError
from mops.registry import RegistryTarget

MiB = 1024 * 1024
BIG = regmod.PIPELINE_MIN + 3 * MiB + 17  # above the read-ahead threshold, not a whole number of chunks


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def readers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "mops-upload-reader" and t.is_alive()]


def fetch(t: RegistryTarget, digest: str) -> bytes:
    with t.fetch_blob(digest) as f:
        return f.read()


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_big_blob_round_trip(registry, chunked):
    t = RegistryTarget(registry.host, registry.repo("bigblob"), chunk_size=(5 * MiB if chunked else 64 * MiB))
    data = os.urandom(BIG)
    d = sha(data)
    t.push_blob(d, len(data), lambda: io.BytesIO(data))
    assert t.blob_size(d) == len(data)
    assert fetch(t, d) == data
    assert readers_alive() == []


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_wrong_digest_of_a_big_blob_is_refused(registry, chunked):
    t = RegistryTarget(registry.host, registry.repo("bigwrong"), chunk_size=(5 * MiB if chunked else 64 * MiB))
    data = os.urandom(BIG)
    claimed = sha(b"something else")
    with pytest.raises(IntegrityError) as e:
        t.push_blob(claimed, len(data), lambda: io.BytesIO(data))
    assert claimed in str(e.value) and e.value.exit_code == 11
    assert t.blob_size(claimed) is None
    assert readers_alive() == []


def test_reader_failing_mid_blob_stops_the_upload(registry):
    """A source that fails after some megabytes: its own error (exit 12), no blob, no thread left reading."""
    data = os.urandom(BIG)

    class Failing(io.BytesIO):
        def readinto(self, b):
            if self.tell() >= 3 * MiB:
                raise ConflictError("model.bin changed since it was staged")
            return super().readinto(b)

    t = RegistryTarget(registry.host, registry.repo("bigfail"))
    with pytest.raises(ConflictError, match="model.bin changed"):
        t.push_blob(sha(data), len(data), lambda: Failing(data))
    assert t.blob_size(sha(data)) is None
    assert readers_alive() == []


def test_short_big_source_fails_with_the_byte_count(registry):
    data = os.urandom(BIG)
    t = RegistryTarget(registry.host, registry.repo("bigshort"))
    with pytest.raises(IntegrityError, match=f"ended after {BIG} of {BIG + 1} bytes"):
        t.push_blob(sha(data + b"x"), BIG + 1, lambda: io.BytesIO(data))
    assert readers_alive() == []


def test_verifying_source_is_hashed_once(registry, monkeypatch):
    """A source that checks the digest itself (a worktree file at push) is not hashed a second time."""
    data = os.urandom(BIG)
    d = sha(data)
    made = []
    real = regmod._hasher_for

    def spy(src, digest):
        h = real(src, digest)
        made.append(h)
        return h

    monkeypatch.setattr(regmod, "_hasher_for", spy)

    class Verifying(io.BytesIO):
        verifies_digest = d

    t = RegistryTarget(registry.host, registry.repo("verifying"))
    t.push_blob(d, len(data), lambda: Verifying(data))
    assert made == [None]
    assert fetch(t, d) == data
    t.push_blob(sha(data[:-1]), len(data) - 1, lambda: io.BytesIO(data[:-1]))  # a plain source is hashed
    assert made[1] is not None


@pytest.fixture
def project(tmp_path, run, monkeypatch, registry):
    root = tmp_path / "proj"
    remote = f"{registry.host}/{registry.repo('changed')}"
    assert run("init", str(root), "--registry", remote).code == 0
    monkeypatch.chdir(root)
    from mops.repo import Repository

    repo = Repository(root)
    repo.config.set("storage.mode", "registry-only")
    repo.config.set("core.big_file_threshold", "1MiB")  # staged big files stay in the worktree only
    repo.config.save()
    return root


def test_file_changed_after_add_is_refused_with_its_name(project, run, registry):
    """Same size, other bytes: the push stops with exit 12 naming the file; nothing is tagged."""
    data = os.urandom(BIG)
    write("weights.bin", data)
    assert run("add", "weights.bin").code == 0
    changed = bytearray(data)
    changed[BIG // 2] ^= 0xFF
    write("weights.bin", bytes(changed))
    r = run("push")
    assert r.code == 12, r.err
    assert "weights.bin" in r.err and "mops add" in r.err
    t = RegistryTarget(registry.host, run("remote", "-v").out.split()[1].split("/", 1)[1])
    assert t.blob_size(sha(data)) is None and t.blob_size(sha(bytes(changed))) is None
    assert t.tags() == []
    assert readers_alive() == []
    assert run("add", "weights.bin").code == 0
    assert run("push").code == 0
    assert fetch(t, sha(bytes(changed))) == bytes(changed)
