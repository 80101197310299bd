"""mops config: get, set, unset and list the validated settings of .modelops-bundle/config.yaml."""

from __future__ import annotations

from typing import Any

import click

from mops.errors import NotFound, UsageError


def _display(value: Any) -> list[str]:
    """A value as the lines ``get`` prints: one per list item, booleans as true/false."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def config_get(repo, key: str) -> Any:
    """The value of ``key``: set in config.yaml, else its default.  NotFound (1) when neither exists;
    UsageError (2) for a key mops does not know."""
    from mops.config import key_spec

    key_spec(key)
    value = repo.config.get(key)
    if value is None:
        raise NotFound(f"config key {key} is not set", hint=f"mops config set {key} VALUE")
    return value


def config_set(repo, key: str, values: list[str]) -> Any:
    """Validate and save ``key``; a list key takes every value given, any other key exactly one."""
    from mops.config import key_spec

    spec = key_spec(key)
    if not values:
        raise UsageError(f"config set {key}: no value given")
    if spec.is_list:
        value: Any = list(values)
    elif len(values) != 1:
        raise UsageError(f"config key {key} takes one value, got {len(values)}", hint="only list keys (storage.external, storage.registry, roles.NAME) take several")
    else:
        value = values[0]
    stored = repo.config.set(key, value)
    repo.config.save()
    return stored


def config_unset(repo, key: str) -> bool:
    """Remove ``key`` from config.yaml (its default applies again); False when it was not set."""
    removed = repo.config.unset(key)
    if removed:
        repo.config.save()
    return removed


def config_list(repo, include_defaults: bool = False) -> dict[str, tuple[Any, str]]:
    """key → (value, source), sorted; source is ``config`` or, with ``include_defaults``, ``default``."""
    from mops.config import SCHEMA

    out: dict[str, tuple[Any, str]] = {k: (v, "config") for k, v in repo.config.values.items()}
    if include_defaults:
        for k, spec in SCHEMA.items():
            if k not in out and spec.default is not None:
                out[k] = (list(spec.default) if isinstance(spec.default, list) else spec.default, "default")
    return dict(sorted(out.items()))


@click.group("config")
def cli():
    """Get and set project settings (.modelops-bundle/config.yaml).

    Every key is validated: an unknown key or a bad value exits 2 and
    changes nothing.  Secrets are refused: credentials come from each
    store's standard environment (docs/STORAGE.md).

    \b
    Example:
      mops config set storage.url s3://my-bucket/models
      mops config set storage.threshold 100MiB
      mops config set storage.external '*.safetensors' 'data/**'
      mops config get storage.threshold
      mops config list --all
    """


_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@cli.command("get")
@click.argument("key")
@_JSON
def get_cmd(key, as_json):
    """Print the value of KEY (its default when unset; one line per item of a list).

    \b
    Example:
      mops config get storage.threshold
    """
    from mops.ui import emit_json, open_repo

    value = config_get(open_repo(), key)
    if as_json:
        emit_json("config", {"key": key, "value": value})
        return
    for line in _display(value):
        click.echo(line)


@cli.command("set")
@click.argument("key")
@click.argument("values", nargs=-1, required=True)
@_JSON
def set_cmd(key, values, as_json):
    """Set KEY to VALUE (a list key takes several values, replacing the list).

    \b
    Example:
      mops config set storage.url s3://my-bucket/models
      mops config set storage.external '*.safetensors' 'data/**'
    """
    from mops.ui import emit_json, open_repo, summary

    stored = config_set(open_repo(), key, list(values))
    if as_json:
        emit_json("config", {"key": key, "value": stored})
    summary(f"{key} = {', '.join(_display(stored)) or '(empty list)'}")


@cli.command("unset")
@click.argument("key")
@_JSON
def unset_cmd(key, as_json):
    """Remove KEY from config.yaml, so its default applies again.

    \b
    Example:
      mops config unset storage.threshold
    """
    from mops.ui import emit_json, open_repo, summary

    removed = config_unset(open_repo(), key)
    if as_json:
        emit_json("config", {"key": key, "removed": removed})
    summary(f"unset {key}" if removed else f"{key} was not set")


@cli.command("list")
@click.option("--all", "include_defaults", is_flag=True, help="Also show the defaults of keys that are not set.")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
def list_cmd(include_defaults, as_json):
    """List the settings as KEY=VALUE lines (one line per item of a list).

    \b
    Example:
      mops config list --all
    """
    from mops.ui import emit_json, open_repo

    items = config_list(open_repo(), include_defaults)
    if as_json:
        emit_json("config", {"values": {k: v for k, (v, _s) in items.items()},
                             "sources": {k: s for k, (_v, s) in items.items()}})
        return
    for k, (v, _s) in items.items():
        lines = _display(v)
        if not lines:
            click.echo(f"{k}=")
        for line in lines:
            click.echo(f"{k}={line}")
