"""Per-invocation settings shared by every command (from the global options)."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass
class Globals:
    verbose: int = 0
    quiet: bool = False
    progress: bool = True

    def progress_enabled(self) -> bool:
        return self.progress and not self.quiet and sys.stderr.isatty()
