"""mops — git for model bundles.

The package root stays import-light: ``mops --version`` and the local commands must not pay for
network libraries.  The worker API (``mops.materialize``) is loaded on first use.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
