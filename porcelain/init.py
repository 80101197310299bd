"""mops init: create ``.modelops-bundle/`` (and with --template a starter project)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from mops.errors import ConflictError
from mops.ignore import DOT_DIR

GITIGNORE_LINE = f"{DOT_DIR}/"


@dataclass
class InitResult:
    root: str
    created_dir: bool
    gitignore_updated: bool
    template_files: list[str]
    registry: str | None


def init(directory: str | os.PathLike = ".", registry: str | None = None, template: bool = False) -> InitResult:
    root = Path(directory).absolute()
    dot = root / DOT_DIR
    if dot.exists():
        raise ConflictError(f"{root} is already a mops project ({DOT_DIR}/ exists)", hint="nothing was changed")
    if registry is not None:
        from mops.config import validate

        validate("remotes.origin", registry)
        _check_remote_ref(registry)
    if registry is not None:
        from mops.reference import store_form

        registry = store_form(registry, str(root))
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    template_files: list[str] = []
    if template:
        from mops.template import write_template

        template_files = write_template(root)
    # build the directory beside its final name, then rename: an interrupted init leaves nothing
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=".modelops-bundle.", dir=root))
    try:
        for sub in ("objects/sha256", "refs/tags", "refs/remotes", "logs"):
            (tmp / sub).mkdir(parents=True)
        if registry is not None:
            from mops.config import Config

            cfg = Config(tmp / "config.yaml")
            cfg.set("remotes.origin", registry)
            cfg.save()
        else:
            (tmp / "config.yaml").write_text("{}\n")
        os.rename(tmp, dot)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if registry is not None:
        from mops.remotes import ignore_layout_inside

        ignore_layout_inside(root, registry)
    gi = root / ".gitignore"
    updated = False
    lines = gi.read_text(encoding="utf-8").splitlines() if gi.exists() else []
    if not any(line.strip() in (GITIGNORE_LINE, DOT_DIR, "/" + GITIGNORE_LINE, "/" + DOT_DIR) for line in lines):
        with open(gi, "a", encoding="utf-8") as f:
            if lines and gi.read_bytes()[-1:] != b"\n":
                f.write("\n")
            f.write(GITIGNORE_LINE + "\n")
        updated = True
    return InitResult(str(root), created, updated, template_files, registry)


def _check_remote_ref(ref: str) -> None:
    try:
        from mops.reference import parse_remote
    except ImportError:
        return
    parse_remote(ref)


@click.command("init")
@click.option("--registry", metavar="REF", help="Set the 'origin' remote (host/repository or oci:PATH).")
@click.option("--template", is_flag=True, help="Also write a starter project with an example model.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("directory", required=False, default=".")
def cli(registry, template, as_json, directory):
    """Create an empty mops project in DIRECTORY (created if missing) or here.

    Stages nothing.  Adds .modelops-bundle/ to .gitignore once.  Refuses, changing
    nothing, if the directory is already a project.

    \b
    Example:
      mops init my-model --registry ghcr.io/acme/my-model
      mops init --template
    """
    from mops.ui import emit_json, summary

    if directory == "" or registry == "":  # an unset shell variable must not silently mean the default
        from mops.errors import UsageError

        raise UsageError("DIR or --registry is empty: leave it out for the default")
    res = init(directory, registry=registry, template=template)
    if as_json:
        emit_json("init", {"root": res.root, "created": res.created_dir, "gitignore_updated": res.gitignore_updated,
                           "template_files": res.template_files, "registry": res.registry})
        return
    summary(f"Initialized empty mops project in {res.root}/{DOT_DIR}/" + (f" ({len(res.template_files)} template files)" if res.template_files else ""))
