"""The CLI root: global options, lazy command loading, and the one place errors become exit codes.

Commands live in ``porcelain/<name>.py`` and ``plumbing/<name>.py`` and are imported only when run,
so ``mops status`` never pays for network libraries and ``mops --version`` imports nothing.
"""

from __future__ import annotations

import os
import sys

from . import __version__

# name → (module, one-line summary).  Summaries live here so `mops --help` imports no command.
PORCELAIN = {
    "init": ("porcelain.init", "Create a mops project (.modelops-bundle/) in DIR or here."),
    "add": ("porcelain.add", "Stage files, directories or globs."),
    "rm": ("porcelain.rm", "Untrack files and delete them (--cached keeps them)."),
    "remove": ("porcelain.remove", "Untrack files, keeping them on disk (rm --cached)."),
    "status": ("porcelain.status", "Show staged, unstaged and untracked changes."),
    "diff": ("porcelain.diff", "Show changes between worktree, index and bundles."),
    "config": ("porcelain.config", "Get and set project settings."),
    "remote": ("porcelain.remote", "Manage remotes."),
    "push": ("porcelain.push", "Publish what is staged as a bundle."),
    "fetch": ("porcelain.fetch", "Download a bundle into the object store."),
    "pull": ("porcelain.pull", "Sync a bundle into the worktree (3-way)."),
    "materialize": ("porcelain.materialize", "Write a bundle into any directory (no project needed)."),
    "resolve": ("porcelain.resolve", "Print the canonical repository@sha256:<hex> of a reference."),
    "show": ("porcelain.show", "Show a bundle's files, sizes, storage, roles and models."),
    "tag": ("porcelain.tag", "Create or list tags."),
    "ls-remote": ("porcelain.ls_remote", "List the tags of a remote."),
    "log": ("porcelain.log", "Show the reflog of pushes, pulls and fetches."),
    "verify": ("porcelain.verify", "Check a bundle's blobs and external objects against their digests."),
    "export": ("porcelain.export", "Write a bundle or the index as a deterministic tar archive."),
    "import": ("porcelain.import_", "Stage the files of an archive into the project."),
    "gc": ("porcelain.gc", "Drop unreachable objects (local, cache, or remote)."),
    "scan": ("porcelain.scan", "Inventory of the worktree."),
    "plan": ("porcelain.plan", "Storage decision, size and destination for every staged file."),
    "login": ("porcelain.login", "Store credentials for a registry."),
    "logout": ("porcelain.logout", "Remove stored credentials for a registry."),
    "discover": ("porcelain.discover", "Find model classes by parsing (no code is run)."),
    "register-model": ("porcelain.register_model", "Add models to the bundle's registry."),
    "register-target": ("porcelain.register_target", "Add calibration targets to the bundle's registry."),
    "models": ("porcelain.models", "List models and targets with their digests and state."),
    "manifest": ("porcelain.manifest", "Write or check manifest.json."),
    "env": ("porcelain.env", "Show the environment digest and what went into it."),
    "fsck": ("porcelain.fsck", "Check the object store and the index."),
    "completion": ("porcelain.completion", "Print a shell completion script."),
}
PLUMBING = {
    "hash-object": ("plumbing.hash_object", "Compute (and with -w store) the object id of files."),
    "cat-file": ("plumbing.cat_file", "Print an object's type, size or content."),
    "update-index": ("plumbing.update_index", "Register worktree files in the index."),
    "ls-files": ("plumbing.ls_files", "List files in the index or the worktree."),
    "check-ignore": ("plumbing.check_ignore", "Print the paths that are ignored."),
    "write-tree": ("plumbing.write_tree", "Write the index as a bundle config; print its digest."),
    "ls-tree": ("plumbing.ls_tree", "List the files of a tree."),
    "read-tree": ("plumbing.read_tree", "Read a tree into the index."),
    "checkout-index": ("plumbing.checkout_index", "Write files from the index into the worktree."),
    "write-manifest": ("plumbing.write_manifest", "Write the OCI manifest for a tree; print its digest."),
    "ls-layers": ("plumbing.ls_layers", "List a manifest's blobs: digest, size, media type, title."),
    "send-bundle": ("plumbing.send_bundle", "Upload what a remote lacks of a bundle, then its manifest."),
    "fetch-bundle": ("plumbing.fetch_bundle", "Download a bundle into the object store."),
    "rev-parse": ("plumbing.rev_parse", "Print the digest a ref names."),
    "show-ref": ("plumbing.show_ref", "List refs and their digests."),
    "update-ref": ("plumbing.update_ref", "Point a ref at a digest."),
}
COMMANDS = {**PORCELAIN, **PLUMBING}


def available_commands() -> dict[str, tuple[str, str]]:
    """Commands whose module exists (the table may name commands a build does not ship yet)."""
    import importlib.util

    return {n: v for n, v in COMMANDS.items() if importlib.util.find_spec(v[0]) is not None}


def _build_root():
    import click

    class LazyGroup(click.Group):
        def list_commands(self, ctx):
            return sorted(available_commands())

        def get_command(self, ctx, name):
            spec = COMMANDS.get(name)
            if spec is None:
                return None
            import importlib

            try:
                mod = importlib.import_module(spec[0])
            except ModuleNotFoundError as e:
                if e.name == spec[0]:
                    return None
                raise
            return mod.cli

        def format_commands(self, ctx, formatter):
            avail = available_commands()
            for title, table in (("Porcelain commands", PORCELAIN), ("Plumbing commands", PLUMBING)):
                rows = [(n, s) for n, (_m, s) in table.items() if n in avail]
                if rows:
                    with formatter.section(title):
                        formatter.write_dl(rows)

    @click.group(
        cls=LazyGroup,
        context_settings={"help_option_names": ["-h", "--help"]},
        epilog="Example:\n\n\b\n  mops init && mops add . && mops push oci:./bundles:v1\n\nSee 'man mops-COMMAND' or 'mops COMMAND --help'.",
    )
    @click.option("-C", "directory", type=click.Path(file_okay=False), help="Run as if started in DIR.")
    @click.option("-v", "--verbose", count=True, help="More detail; -v shows tracebacks of errors.")
    @click.option("-q", "--quiet", is_flag=True, help="Print only errors and requested values.")
    @click.option("--no-progress", is_flag=True, help="Never draw progress bars.")
    @click.version_option(__version__, "--version", prog_name="mops", message="%(prog)s %(version)s")
    @click.pass_context
    def root(ctx, directory, verbose, quiet, no_progress):
        """mops — git for model bundles.

        Stage a project's code, data and model files, publish them as an immutable,
        content-addressed bundle to an OCI registry (large files to an object store),
        and fetch them anywhere by digest.
        """
        from .context import Globals

        if directory:
            try:
                os.chdir(directory)
            except OSError as e:
                raise click.UsageError(f"cannot change to {directory}: {e.strerror}") from None
        ctx.obj = Globals(verbose=verbose, quiet=quiet, progress=not no_progress)
        _verbosity[0] = verbose  # read by main() when an error escapes the command

    return root


_verbosity = [0]  # the global -v count, as click parsed it (a command's own -v does not count)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:  # the fast path: no click, no imports
        sys.stdout.write(f"mops {__version__}\n")
        return 0
    if args[:1] == ["status"]:
        from . import scan

        scan.prestart(args)  # the stat pass runs while click and the command load
    try:
        return _main(args)
    finally:
        if args[:1] == ["status"]:
            from . import scan

            scan.discard()


def _main(args: list[str]) -> int:
    _verbosity[0] = 0
    for stream in (sys.stdout, sys.stderr):
        # a file name that is not UTF-8 is written back as the bytes it came from, as git does
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")
    from .errors import MopsError

    try:
        if args[:1] == ["status"]:
            from porcelain import status

            if all(a in status.FAST_FLAGS for a in args[1:]):  # the most-run command, without click
                status.run(**{status.FAST_FLAGS[a]: True for a in args[1:]})
                return 0
        import click

        root = _build_root()
        try:
            root.main(args=args, prog_name="mops", standalone_mode=False)
            return 0
        except click.exceptions.Exit as e:
            return e.exit_code
        except click.Abort:
            sys.stderr.write("mops: interrupted\n")
            return 130
        except click.ClickException as e:
            e.show()
            return 2 if e.exit_code == 2 or isinstance(e, click.UsageError) else e.exit_code
    except MopsError as e:
        if _verbosity[0]:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"mops: error: {e.message}\n")
        if e.hint:
            sys.stderr.write(f"hint: {e.hint}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("mops: interrupted\n")
        return 130
    except BrokenPipeError:
        # the reader went away (`mops ls-files | head`): not an error; silence the final flush
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except Exception as e:  # a bug
        if _verbosity[0]:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"mops: internal error: {type(e).__name__}: {e}\n(run with -v for the traceback; please report it)\n")
        return 70


def entry() -> None:
    sys.exit(main())
