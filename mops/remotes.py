"""From a user's remote or reference argument to an open Target."""

from __future__ import annotations

from .errors import UsageError
from .reference import DEFAULT_REMOTE, Reference, Remote, is_name, parse_reference, parse_remote


def configured(repo) -> dict[str, str]:
    return repo.config.section("remotes.") if repo is not None else {}


def remote_base_dir(repo) -> str | None:
    return str(repo.root) if repo is not None else None


def resolve_remote(repo, text: str | None) -> tuple[str, Remote]:
    """(name for refs/remotes/, Remote) from a remote name or a remote; default ``origin``."""
    names = configured(repo)
    text = text or DEFAULT_REMOTE
    if text in names:
        return text, parse_remote(names[text], remote_base_dir(repo))
    if text == DEFAULT_REMOTE or is_name(text) and "." not in text and ":" not in text:
        raise UsageError(f"no remote named {text!r}",
                         hint=f"run mops remote add {text} oci:./bundles (or host/repository), or give a remote")
    remote = parse_remote(text)
    for n, url in names.items():  # a URL that a configured remote points at uses that name
        if parse_remote(url, remote_base_dir(repo)) == remote:
            return n, remote
    return remote.ref_name(), remote


def resolve_reference(repo, text: str) -> tuple[str, Reference]:
    ref = parse_reference(text, configured(repo), base_dir=remote_base_dir(repo))
    names = configured(repo)
    for n, url in names.items():
        if parse_remote(url, remote_base_dir(repo)) == ref.remote:
            return n, ref
    return ref.remote.ref_name(), ref


def ignore_layout_inside(root, url: str) -> str | None:
    """An ``oci:`` layout inside the project must never be staged: add it to .modelopsignore.

    Returns the pattern added (None when the layout is elsewhere or already ignored)."""
    import os

    from .ignore import IGNORE_FILE

    try:
        remote = parse_remote(url, str(root))
    except UsageError:
        return None
    if remote.kind != "oci":
        return None
    rel = os.path.relpath(remote.location, root)
    if rel == "." or rel.startswith(".."):
        return None
    pattern = "/" + rel.replace(os.sep, "/").rstrip("/") + "/"
    f = os.path.join(root, IGNORE_FILE)
    text = open(f, encoding="utf-8").read() if os.path.exists(f) else ""
    if pattern in text.splitlines():
        return None
    with open(f, "a", encoding="utf-8") as out:
        if text and not text.endswith("\n"):
            out.write("\n")
        out.write(f"# the oci: layout remote lives here; never stage it\n{pattern}\n")
    return pattern


def open_target(remote: Remote, repo=None, insecure: bool | None = None):
    if remote.kind == "oci":
        from .ocilayout import OCILayoutTarget

        return OCILayoutTarget(remote.location)
    from .config import SCHEMA
    from .registry import RegistryTarget

    def setting(key):
        return repo.config.get(key) if repo is not None else SCHEMA[key].default

    insecure = setting("remote.insecure") if insecure is None else insecure
    return RegistryTarget(remote.location, remote.repository, insecure=insecure, timeout=setting("remote.timeout"),
                          chunk_size=setting("remote.chunk_size"))


def concurrency(repo) -> int:
    from .config import SCHEMA

    return repo.config.get("remote.concurrency") if repo is not None else SCHEMA["remote.concurrency"].default


__all__ = ["resolve_remote", "resolve_reference", "open_target", "is_name"]
