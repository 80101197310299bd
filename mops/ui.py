"""Helpers the click wrappers share: finding the project, JSON output, summaries, progress bars.

Nothing below ``mops/`` imports this module's callers; commands import it to render results.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from typing import Any


def globals_():
    import click

    from .context import Globals

    ctx = click.get_current_context(silent=True)
    g = ctx.find_object(Globals) if ctx is not None else None
    return g if g is not None else Globals()


def open_repo():
    from .repo import Repository

    return Repository.find()


def emit_json(command: str, data: dict[str, Any]) -> None:
    doc = {"schema": f"mops.{command}/v1", **data}
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def info(line: str) -> None:
    """A human message on stderr (silent with -q)."""
    if not globals_().quiet:
        sys.stderr.write(line + "\n")


def summary(line: str) -> None:
    """The one-line summary of what a command did, on stderr so stdout stays scriptable."""
    info(line)


def human_size(n: int) -> str:
    f = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if f < 1024 or unit == "TiB":
            return f"{int(f)} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return f"{n} B"


class Progress:
    """A rich progress bar, drawn only on a terminal, only once the work has taken a second.

    ``advance(n)`` is cheap when no bar is shown, so hot loops may call it freely.
    """

    def __init__(self, description: str, total: int | None, unit: str = "bytes"):
        self.description, self.total, self.unit = description, total, unit
        self.enabled = globals_().progress_enabled()
        self.start = time.monotonic()
        self.done = 0
        self._bar = None
        self._task = None

    def _maybe_start(self) -> None:
        if self._bar is not None or not self.enabled or time.monotonic() - self.start < 1.0:
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        cols = [TextColumn("{task.description}"), BarColumn()]
        cols += [DownloadColumn(), TransferSpeedColumn()] if self.unit == "bytes" else [MofNCompleteColumn()]
        cols.append(TimeRemainingColumn())
        from rich.console import Console

        self._bar = RichProgress(*cols, console=Console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=self.total, completed=self.done)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        self._maybe_start()
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextmanager
def progress(description: str, total: int | None, unit: str = "bytes"):
    p = Progress(description, total, unit)
    try:
        yield p
    finally:
        p.close()


def elapsed(t0: float) -> str:
    return f"{time.monotonic() - t0:.2f}s"
