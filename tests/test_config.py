"""mops config: validated settings; secrets are refused and never echoed or stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CONFIG = Path(".modelops-bundle/config.yaml")
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def test_set_get_unset_round_trip(project, run):
    assert run("config", "get", "storage.threshold").out == "52428800\n"  # the default
    r = run("config", "set", "storage.threshold", "100MiB")
    assert r.code == 0 and "storage.threshold = 104857600" in r.err
    assert run("config", "get", "storage.threshold").out == "104857600\n"
    assert "threshold: 104857600" in CONFIG.read_text()
    assert run("config", "unset", "storage.threshold").code == 0
    assert run("config", "get", "storage.threshold").out == "52428800\n"
    r = run("config", "unset", "storage.threshold")
    assert r.code == 0 and "was not set" in r.err


def test_list_keys_take_several_values_and_replace(project, run):
    assert run("config", "set", "storage.external", "*.safetensors", "data/**").code == 0
    assert run("config", "get", "storage.external").out == "*.safetensors\ndata/**\n"
    assert run("config", "set", "storage.external", "*.pt").code == 0
    assert run("config", "get", "storage.external").out == "*.pt\n"
    assert run("config", "set", "roles.train", "data/**", "models/*.py").code == 0
    assert run("config", "get", "roles.train").out == "data/**\nmodels/*.py\n"


def test_scalar_key_refuses_several_values(project, run):
    before = CONFIG.read_bytes()
    r = run("config", "set", "storage.mode", "auto", "registry-only")
    assert r.code == 2 and "takes one value" in r.err
    assert CONFIG.read_bytes() == before


@pytest.mark.parametrize("args, why", [
    (("set", "no.such.key", "1"), "unknown config key"),
    (("get", "no.such.key"), "unknown config key"),
    (("unset", "no.such.key"), "unknown config key"),
    (("set", "storage.threshold", "lots"), "not a size"),
    (("set", "storage.mode", "sometimes"), "must be one of"),
    (("set", "remote.insecure", "maybe"), "not a boolean"),
    (("set", "storage.url", "ftp://host/x"), "unsupported scheme"),
    (("set", "storage.url", "file://relative/dir"), "absolute path"),
    (("set", "storage.url", "s3://"), "no bucket"),
    (("set", "storage.threshold"), "Missing argument"),
])
def test_bad_key_or_value_exits_2_and_changes_nothing(project, run, args, why):
    before = CONFIG.read_bytes()
    r = run("config", *args)
    assert r.code == 2, r.err
    assert why in r.err
    assert CONFIG.read_bytes() == before


def test_get_of_an_unset_key_without_default_exits_1(project, run):
    r = run("config", "get", "storage.url")
    assert r.code == 1 and r.out == "" and "storage.url is not set" in r.err


@pytest.mark.parametrize("args", [
    ("storage.options.secret_access_key", SECRET),
    ("storage.options.account_key", SECRET),
    ("storage.options.sas_token", SECRET),
    ("storage.options.connection_string", SECRET),
    ("storage.url", f"s3://AKIAEXAMPLE:{SECRET}@bucket/models"),
    ("storage.url", f"az://container/models?sv=2024&sig={SECRET}"),
    ("storage.options.endpoint_url", f"https://user:{SECRET}@minio.example:9000"),
    ("storage.options.endpoint_url", f"https://minio.example:9000/?X-Amz-Signature={SECRET}"),
])
def test_secrets_are_refused_and_never_echoed(project, run, args):
    before = CONFIG.read_bytes()
    r = run("config", "set", *args)
    assert r.code == 2
    assert SECRET not in r.err + r.out
    assert CONFIG.read_bytes() == before
    assert SECRET not in CONFIG.read_text()


def test_list_and_json(project, run):
    run("config", "set", "storage.url", "s3://bucket/models")
    run("config", "set", "storage.options.endpoint_url", "http://127.0.0.1:9000")
    run("config", "set", "storage.external", "*.bin", "*.pt")
    r = run("config", "list")
    assert r.out == ("storage.external=*.bin\nstorage.external=*.pt\n"
                     "storage.options.endpoint_url=http://127.0.0.1:9000\nstorage.url=s3://bucket/models\n")
    doc = json.loads(run("config", "list", "--json").out)
    assert doc["schema"] == "mops.config/v1"
    assert doc["values"]["storage.external"] == ["*.bin", "*.pt"]
    assert set(doc["sources"].values()) == {"config"}
    full = json.loads(run("config", "list", "--all", "--json").out)
    assert full["values"]["storage.threshold"] == 52428800 and full["sources"]["storage.threshold"] == "default"
    assert full["sources"]["storage.url"] == "config"
    # the file is nested YAML that a person can edit
    assert "options:\n    endpoint_url: http://127.0.0.1:9000" in CONFIG.read_text()


def test_outside_a_project_exits_2(tmp_path, monkeypatch, run):
    monkeypatch.chdir(tmp_path)
    r = run("config", "list")
    assert r.code == 2 and "not a mops project" in r.err


def test_store_configured_from_config_works_and_no_secret_lands_on_disk(project, run, s3_store, monkeypatch, tmp_path):
    """Credentials from the environment, endpoint from config: the upload works and nothing secret
    is written anywhere under .modelops-bundle/."""
    import io

    from mops.config import Config
    from mops.external import open_store, options_for

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # moto accepts any secret...
    s3_store.configure(run)
    cfg = Config.load(CONFIG)
    opts = options_for(cfg, cfg.get("storage.url"))
    assert opts == {"endpoint_url": s3_store.server.endpoint}
    store = open_store(cfg.get("storage.url"), opts)
    import hashlib

    data = b"weights" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert store.upload(digest, len(data), lambda: io.BytesIO(data))
    store.download(digest, len(data), tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data
    for f in Path(".modelops-bundle").rglob("*"):
        if f.is_file():
            text = f.read_bytes()
            assert b"AWS_SECRET" not in text and b"testing" not in text, f


def test_options_apply_only_to_the_configured_store(project, run):
    from mops.config import Config
    from mops.external import options_for

    run("config", "set", "storage.url", "s3://bucket/models")
    run("config", "set", "storage.options.endpoint_url", "http://127.0.0.1:9000")
    cfg = Config.load(CONFIG)
    assert options_for(cfg, "s3://bucket/other-prefix") == {"endpoint_url": "http://127.0.0.1:9000"}
    assert options_for(cfg, "s3://another-bucket/models") == {}
    assert options_for(cfg, "gs://bucket/models") == {}
