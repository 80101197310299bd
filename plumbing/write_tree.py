"""mops write-tree: write the index as a bundle config (SPEC §4) and print its digest."""

from __future__ import annotations

import click

from mops.errors import UsageError


def build_tree(repo, index=None):
    """The bundle config for what is staged, with each file's storage decided by the policy."""
    from mops.bundle import FileRecord, Tree
    from mops.policy import StoragePolicy
    from mops.tree_extras import collect

    index = index if index is not None else repo.load_index()
    policy = StoragePolicy.from_config(repo.config)
    files = {}
    for path, e in index.items():
        dec = policy.decide(path, e.size)
        uri = None
        if dec.storage == "external":
            uri = policy.uri_for(e.digest)
            if uri is None:
                raise UsageError(
                    f"{path}: the storage policy sends it to an external store ({dec.rule}) but storage.url is not set",
                    hint="run mops config set storage.url s3://BUCKET/PREFIX (or file:///DIR), or raise storage.threshold",
                )
        files[path] = FileRecord(path, e.digest, e.size, e.exec_mode, dec.storage, uri)
    return Tree(files, collect(repo))


def write_tree(repo, index=None) -> str:
    return repo.objects.put_bytes(build_tree(repo, index).to_bytes())


@click.command("write-tree")
def cli():
    """Write the staged files as a bundle config object; print its digest.

    The same staged content gives the same digest on any machine, whatever
    the mtimes or the order files were added in.

    \b
    Example:
      tree=$(mops write-tree) && mops ls-tree "$tree"
    """
    from mops.ui import open_repo

    click.echo(write_tree(open_repo()))
