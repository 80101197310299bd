"""mops materialize and the worker API: any directory, no project, through the shared cache."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write
from helpers_bundle import publish, tree

# A mops that logs every blob it reads from an oci: layout (and can read slowly), to count fetches
# across processes and to kill one mid-download.  The layout is a real directory; only the read
# side is observed.
WRAPPER = r'''
import os, sys, time
from mops.ocilayout import OCILayoutTarget

_orig = OCILayoutTarget.fetch_blob
LOG = os.environ["MOPS_TEST_FETCH_LOG"]
SLOW = float(os.environ.get("MOPS_TEST_SLOW", "0"))
STARTED = os.environ.get("MOPS_TEST_STARTED")


class Slow:
    def __init__(self, f):
        self.f = f

    def read(self, n=-1):
        if STARTED:
            open(STARTED, "a").close()
        time.sleep(SLOW)
        return self.f.read(65536)

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fetch_blob(self, digest, size=None):
    with open(LOG, "a") as log:
        log.write(digest + "\n")
    f = _orig(self, digest, size)
    return Slow(f) if SLOW else f


OCILayoutTarget.fetch_blob = fetch_blob
from mops.cli import main
sys.exit(main(sys.argv[1:]))
'''


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("MOPS_CACHE", str(d))
    return d


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "bundles"


FILES = {"model.py": b"print('sir')\n", "data/weights.bin": os.urandom(2 * 1024 * 1024), "data/empty.txt": b"",
         "README.md": b"# sir\n"}


def test_materialize_without_project_writes_exactly_the_bundle(run, tmp_path, store, monkeypatch, cache_dir):
    digest = publish(run, tmp_path, store, FILES, modes={"model.py": 0o755})
    monkeypatch.chdir(tmp_path)  # not inside any project
    r = run("materialize", f"oci:{store}:v1", "out")
    assert r.code == 0, r.err
    assert r.out.strip() == digest
    assert tree(tmp_path / "out") == FILES  # the bundle's files and nothing else: no bookkeeping in DEST
    assert os.stat(tmp_path / "out/model.py").st_mode & 0o111
    # the same bundle by digest needs nothing new from the remote, and rewrites nothing
    mtime = os.stat(tmp_path / "out/data/weights.bin").st_mtime_ns
    r = run("materialize", "--json", f"oci:{store}@{digest}", "out")
    assert r.code == 0, r.err
    assert '"up_to_date": true' in r.out and '"objects_fetched": 0' in r.out
    assert os.stat(tmp_path / "out/data/weights.bin").st_mtime_ns == mtime


def test_differing_file_exits_12_and_changes_nothing(run, tmp_path, store, monkeypatch):
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    write(out / "README.md", b"my notes\n")
    write(out / "extra.txt", b"mine\n")
    r = run("materialize", f"oci:{store}:v1", "out")
    assert r.code == 12
    assert "README.md" in r.err and "--overwrite" in r.err
    assert tree(out) == {"README.md": b"my notes\n", "extra.txt": b"mine\n"}  # nothing written
    r = run("materialize", "--overwrite", f"oci:{store}:v1", "out")
    assert r.code == 0, r.err
    assert (out / "README.md").read_bytes() == FILES["README.md"]
    assert (out / "extra.txt").exists()  # kept without --mirror
    r = run("materialize", "--mirror", f"oci:{store}:v1", "out")
    assert r.code == 0, r.err
    assert tree(out) == FILES


def test_dry_run_writes_nothing(run, tmp_path, store, monkeypatch, cache_dir):
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    r = run("materialize", "--dry-run", f"oci:{store}:v1", "out")
    assert r.code == 0, r.err
    assert "write data/weights.bin" in r.out.splitlines()
    assert not (tmp_path / "out").exists()


def test_roles_select_files_and_unknown_role_exits_2(run, tmp_path, store, monkeypatch):
    publish(run, tmp_path, store, FILES, roles={"code": ["*.py", "README.md"], "default": ["README.md"]})
    monkeypatch.chdir(tmp_path)
    assert run("materialize", "--role", "code", f"oci:{store}:v1", "code").code == 0
    assert sorted(tree(tmp_path / "code")) == ["README.md", "model.py"]
    assert run("materialize", f"oci:{store}:v1", "dflt").code == 0
    assert sorted(tree(tmp_path / "dflt")) == ["README.md"]  # 'default' applies when no role is named
    r = run("materialize", "--role", "training", f"oci:{store}:v1", "nope")
    assert r.code == 2
    assert "training" in r.err and "code, default" in r.err
    assert not (tmp_path / "nope").exists()


def test_link_modes(run, tmp_path, store, monkeypatch, cache_dir):
    publish(run, tmp_path, store, FILES, modes={"model.py": 0o755})
    monkeypatch.chdir(tmp_path)
    assert run("materialize", "--link", "hardlink", f"oci:{store}:v1", "hl").code == 0
    assert run("materialize", "--link", "copy", f"oci:{store}:v1", "cp").code == 0
    w = hashlib.sha256(FILES["data/weights.bin"]).hexdigest()
    obj = cache_dir / "objects" / "sha256" / w[:2] / w
    assert os.stat(tmp_path / "hl/data/weights.bin").st_ino == os.stat(obj).st_ino
    assert os.stat(tmp_path / "cp/data/weights.bin").st_ino != os.stat(obj).st_ino
    assert os.stat(tmp_path / "cp/data/weights.bin").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "hl/model.py").st_mode & 0o111  # executables keep their mode (copied)
    assert tree(tmp_path / "hl") == tree(tmp_path / "cp") == FILES


def test_edit_in_hardlinked_destination_cannot_corrupt_the_cache(run, tmp_path, store, monkeypatch, cache_dir):
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    assert run("materialize", "--link", "hardlink", f"oci:{store}:v1", "a").code == 0
    target = tmp_path / "a/README.md"
    if os.geteuid() != 0:
        with pytest.raises(PermissionError):  # an editor writing in place gets EACCES
            open(target, "r+b")
    else:  # root ignores the read-only mode: the write goes through, and is caught afterwards
        with open(target, "r+b") as f:
            f.write(b"!")
    # an editor that replaces the file (write a new file, rename it over) breaks the link safely
    tmp = tmp_path / "a/.README.md.swp"
    tmp.write_bytes(b"edited\n")
    os.replace(tmp, tmp_path / "a/data/empty.txt")
    assert run("materialize", f"oci:{store}:v1", "b").code == 0
    assert tree(tmp_path / "b") == FILES  # the cache still serves the published bytes
    r = run("materialize", f"oci:{store}:v1", "a")
    assert r.code == 12 and "empty.txt" in r.err


def test_python_api(run, tmp_path, store, monkeypatch, cache_dir):
    digest = publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    import mops

    res = mops.materialize(f"oci:{store}@{digest}", tmp_path / "api", role=None)
    d, path = res
    assert d == digest and path == str(tmp_path / "api")
    assert tree(tmp_path / "api") == FILES
    d2, p2 = mops.ensure_local(f"oci:{store}@{digest}")
    assert d2 == digest and Path(p2).is_relative_to(cache_dir)
    assert tree(Path(p2)) == FILES
    assert mops.ensure_local(f"oci:{store}@{digest}") == (d2, p2)


def test_import_mops_stays_light():
    code = "import sys, mops; bad = [m for m in ('click', 'requests', 'rich', 'fsspec', 'mops.materialize') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _wrapper(tmp_path: Path) -> Path:
    p = tmp_path / "mops_counting.py"
    p.write_text(WRAPPER)
    return p


def test_eight_processes_one_cold_cache_fetch_each_blob_once(run, tmp_path, store, monkeypatch, cache_dir):
    files = {f"data/part{i}.bin": os.urandom(1024 * 1024 + i) for i in range(6)}
    files["model.py"] = b"x = 1\n"
    digest = publish(run, tmp_path, store, files)
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "fetches.log"
    env = {**os.environ, "MOPS_TEST_FETCH_LOG": str(log), "MOPS_TEST_SLOW": "0.002", "MOPS_CACHE": str(cache_dir)}
    wrapper = _wrapper(tmp_path)
    procs = [subprocess.Popen([sys.executable, str(wrapper), "materialize", f"oci:{store}@{digest}", f"w{i}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(8)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        assert out.decode().strip() == digest
    for i in range(8):
        assert tree(tmp_path / f"w{i}") == files
    fetched = log.read_text().split()
    assert sorted(fetched) == sorted(set(fetched))  # every blob read from the remote once
    assert len(set(fetched)) == len(set(files.values())) + 1  # the layers and the config
    assert not os.listdir(cache_dir / "tmp")


def test_sigkill_mid_download_then_rerun_completes(run, tmp_path, store, monkeypatch, cache_dir):
    files = {"big.bin": os.urandom(4 * 1024 * 1024), "small.txt": b"small\n"}
    digest = publish(run, tmp_path, store, files)
    monkeypatch.chdir(tmp_path)
    started = tmp_path / "started"
    env = {**os.environ, "MOPS_TEST_FETCH_LOG": str(tmp_path / "log"), "MOPS_TEST_SLOW": "0.05",
           "MOPS_TEST_STARTED": str(started), "MOPS_CACHE": str(cache_dir)}
    p = subprocess.Popen([sys.executable, str(_wrapper(tmp_path)), "materialize", f"oci:{store}@{digest}", "out"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL
    out = tmp_path / "out"
    for rel, data in tree(out).items() if out.exists() else []:
        assert data == files[rel], f"partial file {rel} is visible"
    big = hashlib.sha256(files["big.bin"]).hexdigest()
    assert not (cache_dir / "objects" / "sha256" / big[:2] / big).exists()  # never half a cache object
    r = run("materialize", f"oci:{store}@{digest}", "out")
    assert r.code == 0, r.err
    assert tree(out) == files
    assert not os.listdir(cache_dir / "tmp")  # the dead download's temp file was cleaned up


def test_interrupted_directory_is_redone_not_trusted(run, tmp_path, store, monkeypatch, cache_dir):
    digest = publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    assert run("materialize", f"oci:{store}@{digest}", "out").code == 0
    markers = list((cache_dir / "materialized").iterdir())
    assert len(markers) == 1
    # as if a run died between dropping the marker and writing the next one, having removed a file
    markers[0].unlink()
    os.unlink(tmp_path / "out/README.md")
    r = run("materialize", "--json", f"oci:{store}@{digest}", "out")
    assert r.code == 0, r.err
    assert '"README.md"' in r.out
    assert tree(tmp_path / "out") == FILES


def test_bare_digest_outside_a_project_needs_a_remote(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("materialize", "sha256:" + "0" * 64, "out")
    assert r.code == 2 and "origin" in r.err
    assert not (tmp_path / "out").exists()


def test_unsafe_symlink_in_destination_is_refused(run, tmp_path, store, monkeypatch):
    publish(run, tmp_path, store, FILES)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "data")
    r = run("materialize", f"oci:{store}:v1", "out")
    assert r.code == 2 and "symbolic link" in r.err
    assert not os.listdir(tmp_path / "elsewhere")


@pytest.mark.registry
def test_eight_processes_from_a_registry_fetch_each_blob_once(run, tmp_path, monkeypatch, cache_dir, registry):
    """The same through a real registry: each blob is one GET in its access log."""
    remote = f"{registry.host}/{registry.repo('materialize')}"
    root = tmp_path / "laptop"
    assert run("init", str(root), "--registry", remote).code == 0
    monkeypatch.chdir(root)
    files = {f"w{i}.bin": os.urandom(512 * 1024 + i) for i in range(5)}
    for rel, data in files.items():
        write(rel, data)
    os.unlink(".gitignore")
    run("add", ".")
    r = run("push")
    assert r.code == 0, r.err
    digest = r.out.strip()
    monkeypatch.chdir(tmp_path)
    mark = registry.mark()
    procs = [subprocess.Popen([sys.executable, "-m", "mops", "materialize", f"{remote}@{digest}", f"w{i}"],
                              env={**os.environ, "MOPS_CACHE": str(cache_dir)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(8)]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    for i in range(8):
        assert tree(tmp_path / f"w{i}") == files
    gets = [path for method, path, status in registry.requests(mark, "/blobs/") if method == "GET" and status in (200, 206, 307)]
    per_blob = {}
    for path in gets:
        per_blob[path.rsplit("/", 1)[-1]] = per_blob.get(path.rsplit("/", 1)[-1], 0) + 1
    expected = {"sha256:" + hashlib.sha256(d).hexdigest() for d in files.values()}
    assert expected <= set(per_blob)
    assert all(n == 1 for n in per_blob.values()), per_blob
