"""mops — git for model bundles.

The package root stays import-light: ``mops --version`` and the local commands must not pay for
network libraries.  The worker API is loaded on first use:

    import mops
    digest, path = mops.ensure_local("ghcr.io/acme/sir@sha256:…")      # into the shared cache
    result = mops.materialize("ghcr.io/acme/sir@sha256:…", "/scratch/sir", role="code")
"""

__version__ = "0.1.0"

__all__ = ["__version__", "materialize", "ensure_local"]


def __getattr__(name: str):
    if name in ("materialize", "ensure_local"):
        import importlib

        # the submodule is named like its function; importing it binds the (callable) module here
        module = importlib.import_module("mops.materialize")
        fn = getattr(module, name)
        globals()[name] = fn  # next access is a plain attribute
        return fn
    raise AttributeError(f"module 'mops' has no attribute {name!r}")
