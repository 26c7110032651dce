"""Progress: a rich bar (tracks/s, ETA) on a terminal, plain lines otherwise, or nothing."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                           TextColumn, TimeRemainingColumn)


class ScanProgress:
    """Counts finished tracks. ``quiet`` shows nothing; off a TTY, a line every 10 s."""

    def __init__(self, console: Console, quiet: bool = False, label: str = "tagging"):
        self.console, self.quiet, self.label = console, quiet, label
        self.total = 0
        self.done = 0
        self.start = time.perf_counter()
        self.last_line = self.start
        self.bar: Progress | None = None
        self.task = None

    def __enter__(self) -> "ScanProgress":
        if not self.quiet and self.console.is_terminal:
            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TaskProgressColumn(),
                                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                console=self.console, transient=False)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=None, rate="")
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def found(self, total: int) -> None:
        self.total = total
        if self.bar is not None:
            self.bar.update(self.task, total=total)
        elif not self.quiet:
            print(f"{self.label}: {total} audio files found", file=sys.stderr, flush=True)

    def advance(self, _row=None) -> None:
        self.done += 1
        now = time.perf_counter()
        rate = self.done / max(now - self.start, 1e-9)
        if self.bar is not None:
            self.bar.update(self.task, advance=1, rate=f"{rate:.1f} tracks/s")
        elif not self.quiet and (now - self.last_line >= 10 or self.done == self.total):
            self.last_line = now
            left = (self.total - self.done) / rate if rate > 0 else 0
            print(f"{self.label}: {self.done}/{self.total} tracks, {rate:.1f} tracks/s, "
                  f"about {left:.0f} s left", file=sys.stderr, flush=True)
