"""The credential store: docker's config.json, credential helpers, the environment."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mops import credentials
from mops.auth import merge_scopes, parse_challenges, redact
from mops.errors import UsageError


@pytest.fixture
def docker_dir(tmp_path, monkeypatch):
    d = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    monkeypatch.delenv("MOPS_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("MOPS_REGISTRY_PASSWORD", raising=False)
    return d


def test_store_lookup_erase_round_trip(docker_dir):
    assert credentials.lookup("localhost:5000") is None
    path = credentials.store("localhost:5000", "alice", "pa:ss wörd")
    assert path == docker_dir / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert base64.b64decode(doc["auths"]["localhost:5000"]["auth"]).decode() == "alice:pa:ss wörd"
    c = credentials.lookup("LOCALHOST:5000")
    assert (c.username, c.password) == ("alice", "pa:ss wörd")
    assert credentials.erase("localhost:5000") is True
    assert credentials.lookup("localhost:5000") is None
    assert credentials.erase("localhost:5000") is False


def test_store_keeps_docker_keys_and_reads_docker_spellings(docker_dir):
    docker_dir.mkdir()
    auth = base64.b64encode(b"bob:hunter2").decode()
    (docker_dir / "config.json").write_text(json.dumps({
        "auths": {"https://registry.example.com/v1/": {"auth": auth}, "https://index.docker.io/v1/": {"auth": auth}},
        "psFormat": "table {{.ID}}",
    }))
    assert credentials.lookup("registry.example.com").username == "bob"
    assert credentials.lookup("docker.io").password == "hunter2"
    credentials.store("registry.example.com", "carol", "x")
    doc = json.loads((docker_dir / "config.json").read_text())
    assert doc["psFormat"] == "table {{.ID}}"  # other settings survive
    assert list(doc["auths"]) == ["https://index.docker.io/v1/", "registry.example.com"]  # one entry per registry
    assert credentials.lookup("registry.example.com").username == "carol"


def test_environment_wins(docker_dir, monkeypatch):
    credentials.store("ghcr.io", "stored", "stored-pw")
    monkeypatch.setenv("MOPS_REGISTRY_USERNAME", "ci-bot")
    monkeypatch.setenv("MOPS_REGISTRY_PASSWORD", "ci-token")
    c = credentials.lookup("ghcr.io")
    assert (c.username, c.password, c.source) == ("ci-bot", "ci-token", "environment")


def test_identity_token_entry(docker_dir):
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text(json.dumps({"auths": {"myacr.azurecr.io": {"auth": "", "identitytoken": "refresh-abc"}}}))
    c = credentials.lookup("myacr.azurecr.io")
    assert c.identity_token == "refresh-abc"


def test_credential_helper(docker_dir, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-mopstest"
    helper.write_text('#!/bin/sh\nread server\n[ "$server" = "helped.example.com" ] || exit 1\n'
                      'echo "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"helperuser\\",\\"Secret\\":\\"helpersecret\\"}"\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text(json.dumps({"credHelpers": {"helped.example.com": "mopstest"}}))
    c = credentials.lookup("helped.example.com")
    assert (c.username, c.password) == ("helperuser", "helpersecret")
    assert credentials.lookup("other.example.com") is None


def test_corrupt_config_is_a_usage_error(docker_dir):
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text("{not json")
    with pytest.raises(UsageError) as e:
        credentials.lookup("ghcr.io")
    assert "config.json" in str(e.value) and e.value.exit_code == 2


def test_secrets_hidden_from_reprs_and_redact():
    c = credentials.Credentials("alice", "topsecret", "tok-123")
    assert "topsecret" not in repr(c) and "tok-123" not in repr(c)
    line = "Authorization: Basic YWxpY2U6dG9wc2VjcmV0 and Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig"
    out = redact(line)
    assert "YWxpY2U6dG9wc2VjcmV0" not in out and "eyJhbGci" not in out and "<redacted>" in out


def test_parse_challenges():
    [b] = parse_challenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",'
                           'scope="repository:a/b:pull,push"')
    assert b.scheme == "bearer" and b.params == {"realm": "https://auth.example.com/token",
                                                 "service": "registry.example.com", "scope": "repository:a/b:pull,push"}
    two = parse_challenges('Basic realm="x, y", Bearer realm="https://t/token",error="invalid_token"')
    assert [(c.scheme, c.params) for c in two] == [("basic", {"realm": "x, y"}),
                                                   ("bearer", {"realm": "https://t/token", "error": "invalid_token"})]
    assert parse_challenges("Basic")[0].scheme == "basic"
    assert merge_scopes(["repository:a/b:pull,push", "repository:a/b:push,pull", "repository:c:pull", ""]) == [
        "repository:a/b:pull,push", "repository:c:pull"]


_user = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), min_size=1, max_size=30)
_password = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(user=_user, password=_password)
def test_any_user_and_password_round_trip(tmp_path_factory, user, password):
    d = tmp_path_factory.mktemp("docker")
    old = os.environ.get("DOCKER_CONFIG")
    os.environ["DOCKER_CONFIG"] = str(d)
    env_user = os.environ.pop("MOPS_REGISTRY_USERNAME", None)
    try:
        credentials.store("registry.example.com:5000", user, password)
        c = credentials.lookup("registry.example.com:5000")
        assert (c.username, c.password) == (user, password)
    finally:
        if old is None:
            os.environ.pop("DOCKER_CONFIG", None)
        else:
            os.environ["DOCKER_CONFIG"] = old
        if env_user is not None:
            os.environ["MOPS_REGISTRY_USERNAME"] = env_user


@pytest.mark.parametrize("command", ["login", "logout"])
def test_man_page_options_match_help(command):
    import re
    from pathlib import Path

    from mops.cli import _build_root

    cmd = _build_root().get_command(None, command)
    helped = {o for p in cmd.params for o in getattr(p, "opts", []) if o.startswith("-")} - {"--help"}
    text = (Path(__file__).parent.parent / "man" / f"mops-{command}.1").read_text()
    options = text.split(".SH OPTIONS", 1)[1].split(".SH ", 1)[0]
    lines = options.splitlines()
    documented = set()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            documented |= {o.replace("\\-", "-") for o in re.findall(r"\\fB((?:\\-)+[A-Za-z0-9\\-]+)\\fR", lines[i + 1])}
    assert documented == helped
    r = cmd.get_help(__import__("click").Context(cmd, info_name=command))
    assert "Example:" in r
