"""mops login: check credentials against a registry's /v2/, then store them in docker's config.json."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from mops.errors import UsageError


@dataclass
class LoginResult:
    registry: str
    username: str
    store: str  # the file the credentials were written to
    verified: bool  # False when the registry answered /v2/ without asking for credentials


def login(registry: str, username: str, password: str, insecure: bool = False, timeout: float | None = None) -> LoginResult:
    """Verify ``username``/``password`` against ``registry`` and store them (mode 0600)."""
    from mops import credentials
    from mops.registry import RegistryTarget

    host = credentials.normalize_host(registry)
    if not username:
        raise UsageError("empty user name", hint=f"mops login {host} -u USER --password-stdin")
    if not password:
        raise UsageError("empty password", hint=f"echo \"$TOKEN\" | mops login {host} -u {username} --password-stdin")
    creds = credentials.Credentials(username, password, None, "mops login")
    timeout = timeout if timeout is not None else _configured_timeout()
    with RegistryTarget(host, "library/mops-login", insecure=insecure, timeout=timeout, credentials=creds) as target:
        target.ping()
        verified = target.authenticated  # the registry challenged, then accepted the credentials
    path = credentials.store(host, username, password)
    return LoginResult(host, username, str(path), verified)


def _configured_timeout() -> float:
    from mops.config import SCHEMA

    try:
        from mops.repo import Repository

        return float(Repository.find().config.get("remote.timeout"))
    except Exception:  # noqa: BLE001 - outside a project (or a broken one) the default applies
        return float(SCHEMA["remote.timeout"].default)


def _read_password(password_stdin: bool, host: str, username: str) -> str:
    if password_stdin:
        data = sys.stdin.read()
        return data[:-1] if data.endswith("\n") else data
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, err=True)
    raise UsageError("no terminal to ask for the password", hint=f"echo \"$PASSWORD\" | mops login {host} -u {username} --password-stdin")


@click.command("login")
@click.option("-u", "--username", metavar="USER", help="User name (asked for when omitted on a terminal).")
@click.option("--password-stdin", is_flag=True, help="Read the password (or token) from standard input.")
@click.option("--insecure", is_flag=True, help="Use plain HTTP for a registry other than localhost.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("registry")
def cli(username, password_stdin, insecure, as_json, registry):
    """Store credentials for REGISTRY (host[:port]) after checking them.

    The registry's /v2/ endpoint must accept the credentials before anything is
    written.  They go to docker's config file, $DOCKER_CONFIG/config.json (default
    ~/.docker/config.json), mode 0600, so docker and mops share one login.
    MOPS_REGISTRY_USERNAME and MOPS_REGISTRY_PASSWORD, when set, take precedence.

    \b
    Example:
      mops login ghcr.io -u alice
      echo "$TOKEN" | mops login ghcr.io -u alice --password-stdin
    """
    from mops import credentials
    from mops.ui import emit_json, summary

    host = credentials.normalize_host(registry)
    if not username:
        if password_stdin or not sys.stdin.isatty():
            raise UsageError("a user name is needed", hint=f"mops login {host} -u USER --password-stdin")
        username = click.prompt("Username", err=True)
    password = _read_password(password_stdin, host, username)
    res = login(host, username, password, insecure=insecure)
    if as_json:
        emit_json("login", {"registry": res.registry, "username": res.username, "store": res.store, "verified": res.verified})
        return
    note = "" if res.verified else " (the registry did not ask for credentials; stored unverified)"
    summary(f"Login succeeded: {res.username} on {res.registry}, credentials in {res.store}{note}")
