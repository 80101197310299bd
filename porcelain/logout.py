"""mops logout: remove a registry's credentials from docker's config.json."""

from __future__ import annotations

from dataclasses import dataclass

import click


@dataclass
class LogoutResult:
    registry: str
    removed: bool  # False: nothing was stored for it
    store: str
    still_from: str | None  # credentials still found elsewhere (environment, a credential helper)


def logout(registry: str) -> LogoutResult:
    from mops import credentials

    host = credentials.normalize_host(registry)
    removed = credentials.erase(host)
    remaining = credentials.lookup(host)
    return LogoutResult(host, removed, str(credentials.config_path()), remaining.source if remaining else None)


@click.command("logout")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("registry")
def cli(as_json, registry):
    """Remove the stored credentials for REGISTRY (host[:port]).

    Only docker's config file is changed ($DOCKER_CONFIG/config.json, default
    ~/.docker/config.json).  Logging out of a registry with nothing stored is
    not an error.

    \b
    Example:
      mops logout ghcr.io
    """
    from mops.ui import emit_json, info, summary

    res = logout(registry)
    if as_json:
        emit_json("logout", {"registry": res.registry, "removed": res.removed, "store": res.store,
                             "credentials_still_from": res.still_from})
        return
    summary(f"Removed credentials for {res.registry} from {res.store}" if res.removed
            else f"Not logged in to {res.registry}: nothing stored in {res.store}")
    if res.still_from:
        info(f"note: credentials for {res.registry} still come from {res.still_from}")
