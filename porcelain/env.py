"""mops env: the environment digest and what went into it."""

from __future__ import annotations

import click


def env_record(root=None) -> dict:
    """The environment record (mops.envdigest) with the full package list."""
    from mops.envdigest import environment

    if root is None:
        from mops.errors import NotAProject
        from mops.repo import Repository

        try:
            root = Repository.find().root
        except NotAProject:
            root = None  # no project: the installed distributions
    return environment(root, with_packages=True)


@click.command("env")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (with every package).")
def cli(as_json):
    """Show the environment digest and what went into it.

    The digest covers the Python version (major.minor), the platform, the
    resolved dependency set (uv.lock, pylock.toml, poetry.lock or
    requirements*.txt at the project root, else the installed distributions),
    $MOPS_CONTAINER_IMAGE, the CUDA version, the default random number
    generators and the thread count.  Model and target digests include it.

    \b
    Example:
      mops env
      MOPS_CONTAINER_IMAGE=ghcr.io/acme/sim@sha256:... mops env --json
    """
    from mops.ui import emit_json, out, summary

    rec = env_record()
    if as_json:
        emit_json("env", rec)
        return
    deps = rec["dependencies"]
    out(f"digest        {rec['digest']}")
    out(f"python        {rec['python']}")
    out(f"platform      {rec['platform']}")
    out(f"dependencies  {deps['digest']} ({deps['count']} from {deps['source']})")
    for key in ("container_image", "cuda"):
        if key in rec:
            out(f"{key.replace('_', ' '):<13} {rec[key]}")
    out(f"rng           {rec['rng']}")
    out(f"threads       {rec['threads']}")
    summary(f"environment {rec['digest'][:len('blake3:') + 16]} ({deps['count']} packages from {deps['source']})")
