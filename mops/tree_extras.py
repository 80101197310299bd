"""Optional keys of the bundle config (SPEC §4) gathered from the project: roles, and model records.

Roles come from ``roles.<name>`` in config.yaml, else ``[tool.modelops-bundle.roles]`` in
pyproject.toml.  Model and target records, when the project has registered any, are added by
``mops.models`` (``register-model``); this module only collects what is there.
"""

from __future__ import annotations

from typing import Any


def project_roles(repo) -> dict[str, list[str]]:
    roles = repo.config.section("roles.")
    if roles:
        return {k: list(v) for k, v in sorted(roles.items())}
    py = repo.root / "pyproject.toml"
    if py.is_file():
        import tomllib

        try:
            data = tomllib.loads(py.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return {}
        r = data.get("tool", {}).get("modelops-bundle", {}).get("roles", {})
        if isinstance(r, dict):
            return {str(k): [str(p) for p in v] for k, v in sorted(r.items()) if isinstance(v, list)}
    return {}


def collect(repo) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    roles = project_roles(repo)
    if roles:
        extra["roles"] = roles
    try:
        from . import models as model_registry  # provided by the models feature
    except ImportError:
        model_registry = None
    if model_registry is not None and hasattr(model_registry, "tree_records"):
        extra.update(model_registry.tree_records(repo))
    return extra
