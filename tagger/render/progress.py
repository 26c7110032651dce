"""Progress: a rich bar (tracks/s, ETA) on a terminal, plain lines otherwise, or nothing."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)


class ScanProgress:
    """Counts finished tracks. ``quiet`` shows nothing; off a TTY, a line every 10 s."""

    def __init__(self, console: Console, quiet: bool = False, label: str = "tagging"):
        self.console, self.quiet, self.label = console, quiet, label
        self.total = 0
        self.done = 0
        self.start = time.perf_counter()
        self.last_line = self.start
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def _task(self) -> TaskID:
        assert self.task is not None, "the bar is started with its task"
        return self.task

    def __enter__(self) -> ScanProgress:
        if not self.quiet and self.console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=None, rate="")
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def found(self, total: int) -> None:
        self.total = total
        if self.bar is not None:
            self.bar.update(self._task(), total=total)
        elif not self.quiet:
            print(f"{self.label}: {total} audio files found", file=sys.stderr, flush=True)

    def advance(self, _row=None) -> None:
        self.done += 1
        now = time.perf_counter()
        rate = self.done / max(now - self.start, 1e-9)
        if self.bar is not None:
            self.bar.update(self._task(), advance=1, rate=f"{rate:.1f} tracks/s")
        elif not self.quiet and now - self.last_line >= 10 and self.done < self.total:
            self.last_line = now
            left = (self.total - self.done) / rate if rate > 0 else 0
            print(
                f"{self.label}: {self.done}/{self.total} tracks, {rate:.1f} tracks/s, "
                f"about {left:.0f} s left",
                file=sys.stderr,
                flush=True,
            )

    def finish(self, tracks: int, seconds: float) -> None:
        """The run is over: ``tracks`` in ``seconds``, decisions and writes included (a
        track counts above once heard or found in the cache, before those), so the last
        figure shown is the summary's."""
        rate = f"{tracks / seconds:.1f} tracks/s" if seconds > 0 else ""
        if self.bar is not None:
            self.bar.update(self._task(), rate=rate)
        elif not self.quiet:
            print(
                f"{self.label}: {self.done}/{self.total} tracks, {rate or 'done'}",
                file=sys.stderr,
                flush=True,
            )


class PlainSteps:
    """The part of rich's ``Progress`` that training uses (``add_task``, ``advance``,
    ``update``, ``reset``), for output that is not a terminal: one line when a step
    starts, one at most every ``every`` seconds while it runs, and one when it ends."""

    def __init__(self, file=None, every: float = 10.0):
        self.file, self.every = file, every
        self.tasks: list[dict] = []

    def __enter__(self) -> PlainSteps:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def add_task(self, description: str, total: int | None = None, info: str = "") -> int:
        now = time.perf_counter()
        self.tasks.append(
            {
                "what": description,
                "total": total,
                "done": 0,
                "info": info,
                "start": now,
                "said": now,
            }
        )
        self._say(self.tasks[-1], "started")
        return len(self.tasks) - 1

    def advance(self, task: int, advance: int = 1) -> None:
        self.update(task, completed=self.tasks[task]["done"] + advance)

    def update(self, task: int, completed: int | None = None, info: str | None = None) -> None:
        t = self.tasks[task]
        if completed is not None:
            t["done"] = completed
        if info is not None:
            t["info"] = info
        now = time.perf_counter()
        if t["total"] is not None and t["done"] >= t["total"]:
            self._say(t, f"done in {now - t['start']:.0f} s")
        elif now - t["said"] >= self.every:
            self._say(t, "")

    def reset(self, task: int, total: int | None = None) -> None:
        t = self.tasks[task]
        t["done"], t["start"] = 0, time.perf_counter()
        if total is not None:
            t["total"] = total

    def _say(self, t: dict, what: str) -> None:
        t["said"] = time.perf_counter()
        count = f"{t['done']}/{t['total']}" if t["total"] is not None else str(t["done"])
        parts = [p for p in (count, t["info"], what) if p]
        print(f"{t['what']}: {', '.join(parts)}", file=self.file or sys.stderr, flush=True)


def steps(err):
    """A rich progress display on ``err`` (stderr) for long steps (training, learn); plain
    lines when it is not a terminal (a log, CI)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    if not err.is_terminal:
        return PlainSteps()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=err,
        transient=True,
    )
