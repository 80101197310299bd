"""mops export / import: deterministic archives, and staging them back."""

from __future__ import annotations

import io
import os
import tarfile

import pytest
from conftest import write
from helpers_bundle import publish
from hypothesis import given, settings
from hypothesis import strategies as st

FILES = {"b/ü.txt": b"unicode path\n", "a.py": b"print(1)\n", "data/w.bin": os.urandom(200_000), "z": b""}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MOPS_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("ext", [".tar", ".tar.zst"])
def test_two_clones_with_different_mtimes_export_identical_bytes(run, tmp_path, monkeypatch, ext):
    out = {}
    for i, clone in enumerate(("one", "two")):
        root = tmp_path / clone
        assert run("init", str(root)).code == 0
        monkeypatch.chdir(root)
        for rel, data in (FILES.items() if i == 0 else reversed(FILES.items())):
            write(rel, data, 0o755 if rel == "a.py" else None)
            os.utime(rel, (1_000_000 * (i + 1), 1_000_000 * (i + 1)))
        assert run("add", ".").code == 0
        assert run("export", "--index", str(tmp_path / f"{clone}{ext}")).code == 0
        out[clone] = (tmp_path / f"{clone}{ext}").read_bytes()
    assert out["one"] == out["two"]


def test_archive_members_are_normalised(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES, modes={"a.py": 0o755})
    monkeypatch.chdir(tmp_path)
    r = run("export", f"oci:{store}:v1", "b.tar.zst")
    assert r.code == 0, r.err
    import zstandard

    raw = zstandard.ZstdDecompressor().stream_reader(open("b.tar.zst", "rb")).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == sorted(FILES, key=lambda p: p.encode())
        for m in members:
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
            assert m.mode == (0o755 if m.name == "a.py" else 0o644)
            assert tar.extractfile(m).read() == FILES[m.name]
    # the same bundle exported again, through a warm cache, is the same file
    assert run("export", f"oci:{store}:v1", "c.tar.zst").code == 0
    assert open("c.tar.zst", "rb").read() == open("b.tar.zst", "rb").read()


def test_wrong_extension_or_missing_source_exits_2(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path / "laptop")
    assert run("export", "v1", "out.zip").code == 2
    assert run("export", "v1").code == 2  # no OUT
    assert run("import", "nothing-here.tar").code == 2
    assert run("export", "v1", str(tmp_path / "x.tar")).code == 0
    os.rename(tmp_path / "x.tar", tmp_path / "x.tar.zst")
    r = run("import", str(tmp_path / "x.tar.zst"))
    assert r.code == 2 and "not zstd" in r.err


def test_import_stages_the_files(run, tmp_path, monkeypatch):
    store = tmp_path / "bundles"
    publish(run, tmp_path, store, FILES, modes={"a.py": 0o755})
    monkeypatch.chdir(tmp_path)
    assert run("export", f"oci:{store}:v1", "b.tar.zst").code == 0
    assert run("init", "fresh").code == 0
    monkeypatch.chdir(tmp_path / "fresh")
    os.unlink(".gitignore")
    r = run("import", str(tmp_path / "b.tar.zst"))
    assert r.code == 0, r.err
    assert run("status", "--porcelain").out == "".join(f"A  {p}\n" for p in sorted(FILES))
    assert os.stat("a.py").st_mode & 0o111
    write("a.py", "changed\n")
    r = run("import", str(tmp_path / "b.tar.zst"))
    assert r.code == 12 and "a.py" in r.err


def _tar_with(name: str, kind=tarfile.REGTYPE) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        ti = tarfile.TarInfo(name)
        ti.type = kind
        if kind == tarfile.SYMTYPE:
            ti.linkname = "/etc/passwd"
            tar.addfile(ti)
        else:
            ti.size = 4
            tar.addfile(ti, io.BytesIO(b"evil"))
    return buf.getvalue()


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["../escape", "/abs/path", "a/../../b", ".modelops-bundle/config.yaml", "a\\b", "./../x"])
       | st.text(min_size=1, max_size=20).map(lambda s: "../" + s.replace("\0", "")))
def test_import_refuses_unsafe_member_paths(tmp_path_factory, name):
    from mops.errors import UsageError
    from mops.repo import Repository
    from porcelain.import_ import import_archive

    base = tmp_path_factory.mktemp("imp")
    (base / "proj" / ".modelops-bundle" / "objects").mkdir(parents=True)
    arc = base / "evil.tar"
    arc.write_bytes(_tar_with(name))
    with pytest.raises(UsageError):
        import_archive(Repository(base / "proj"), arc)
    assert sorted(p.name for p in base.iterdir()) == ["evil.tar", "proj"]
    assert [p.name for p in (base / "proj").iterdir()] == [".modelops-bundle"]


def test_import_refuses_symlinks(run, project, tmp_path):
    arc = tmp_path / "link.tar"
    arc.write_bytes(_tar_with("innocent", tarfile.SYMTYPE))
    r = run("import", str(arc))
    assert r.code == 2 and "not a regular file" in r.err
    assert not os.path.lexists(project / "innocent")
