"""mops remote: manage the remotes bundles are pushed to and pulled from."""

from __future__ import annotations

import click

from mops.errors import ConflictError, NotFound, UsageError


def remote_add(repo, name: str, ref: str) -> None:
    from mops.reference import is_name, parse_remote

    if not is_name(name):
        raise UsageError(f"invalid remote name {name!r}: letters, digits, '_', '.', '-'")
    parse_remote(ref, str(repo.root))
    if name in repo.config.section("remotes."):
        raise ConflictError(f"remote {name!r} already exists", hint=f"mops remote remove {name} first")
    from mops.reference import store_form

    ref = store_form(ref, str(repo.root))
    repo.config.set(f"remotes.{name}", ref)
    repo.config.save()
    from mops.remotes import ignore_layout_inside

    ignore_layout_inside(repo.root, ref)


def remote_remove(repo, name: str) -> None:
    from mops.reference import is_name

    if not is_name(name):
        raise UsageError(f"invalid remote name {name!r}: letters, digits, '_', '.', '-'", hint="see the remotes with mops remote")
    if not repo.config.unset(f"remotes.{name}"):
        raise NotFound(f"no remote named {name!r}")
    repo.config.save()


def remote_list(repo) -> dict[str, str]:
    return dict(sorted(repo.config.section("remotes.").items()))


@click.group("remote", invoke_without_command=True)
@click.option("-v", "--verbose", "verbose", is_flag=True, help="Show each remote's reference too.")
@click.option("--json", "as_json", is_flag=True, help="Print the remotes as JSON.")
@click.pass_context
def cli(ctx, verbose, as_json):
    """List remotes, or add and remove them.

    \b
    Example:
      mops remote add origin ghcr.io/acme/sir-model
      mops remote add local oci:./bundles
      mops remote -v
    """
    if ctx.invoked_subcommand is not None:
        return
    from mops.ui import emit_json, open_repo

    remotes = remote_list(open_repo())
    if as_json:
        emit_json("remote", {"remotes": remotes})
        return
    for n, url in remotes.items():
        click.echo(f"{n}\t{url}" if verbose else n)


@cli.command("add")
@click.argument("name")
@click.argument("ref")
def add_cmd(name, ref):
    """Add remote NAME pointing at REF (host[:port]/repository or oci:PATH).

    \b
    Example:
      mops remote add origin ghcr.io/acme/sir-model
      mops remote add local oci:./bundles
    """
    from mops.ui import open_repo, summary

    remote_add(open_repo(), name, ref)
    summary(f"added remote {name} → {ref}")


@cli.command("remove")
@click.argument("name")
def remove_cmd(name):
    """Remove remote NAME (its remote-tracking refs stay until gc).

    \b
    Example:
      mops remote remove local
    """
    from mops.ui import open_repo, summary

    remote_remove(open_repo(), name)
    summary(f"removed remote {name}")
