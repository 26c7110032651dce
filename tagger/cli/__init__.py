"""The ``genretag`` command line (typer).

Exit status: 0 when every file was handled, 1 when some failed (they are listed), 2 for usage
errors (bad path, unreadable model or map file, unknown or missing device, missing cache)
and for a cache that cannot be written (the scan stops before writing more files), 130 on
Ctrl-C. Every text that comes from files or users is printed with rich markup off.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console, ConsoleDimensions

from genretag.library.discover import printable
from genretag.states import (
    SCAN_STATUSES,
    CoverageMode,
    Device,
    Engine,
    GroupBy,
    Policy,
    Runtime,
    Status,
    UndoStatus,
)

PIPED_WIDTH = 1 << 16  # columns of output that is piped or redirected


class Screen(Console):
    """rich's console, except that output piped or redirected is never folded to a
    terminal's width: every row is one line, for grep and less."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return size if self.is_terminal else ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


out = Screen(highlight=False)
err = Screen(stderr=True, highlight=False)


MODEL_HELP = "Genre model file (default: the shipped model)."
DEVICE_HELP = "Where the model runs: auto (a CUDA GPU when there is one), cpu or cuda."
RUNTIME_HELP = ("What runs the network: auto (ONNX Runtime on a CPU where the model allows "
                "it, else PyTorch), torch or onnx.")
DB_HELP = "Cache file (default: genretag.sqlite in the user cache folder)."


def usage_error(message: str) -> typer.Exit:
    err.print(f"genretag: error: {message}", markup=False, soft_wrap=True)
    return typer.Exit(2)


# options that scan, train, evaluate and learn share (typer takes one option object as the
# default of several commands)
ENGINE_OPT = typer.Option(Engine.LOCAL, "--engine", help="Where tracks are heard: local, or "
                          "ray (a Ray cluster; pip install 'genretag[ray]').")
RAY_ADDRESS_OPT = typer.Option(None, "--ray-address", help="The Ray cluster to join (default: "
                               "RAY_ADDRESS, else a Ray runtime started on this machine).")


def open_model(path: Optional[Path], device: Device, genre_model: bool = True):
    """Load the model in PyTorch on the chosen device (training and learn need its
    network); exits with 2 if the file or the device is unusable, or (``genre_model``) if
    the file is a pretrained backbone."""
    from genretag.api import ConfigError, open_model_file
    from genretag.models.file import ModelFileError
    from genretag.models.loader import RuntimeUnavailable

    try:
        return open_model_file(path, device, genre_model, Runtime.TORCH).load()
    except (ConfigError, ModelFileError, RuntimeUnavailable) as e:
        raise usage_error(str(e)) from None


def open_session(config_args: dict, must_exist: bool = False):
    """A library ``Session`` for these ``ScanConfig`` arguments, its cache opened; exits
    with 2 and one line when either cannot work. With ``must_exist`` (undo), a missing
    cache is an error rather than a new, empty one."""
    from genretag.api import ConfigError, ScanConfig, Session
    from genretag.store.cache import CacheError

    if must_exist:
        cache_must_exist(config_args.get("db"))
    try:
        session = Session(ScanConfig(**config_args))
        session.cache  # opened now: a cache that cannot be used stops the run up front
    except (ConfigError, CacheError) as e:
        raise usage_error(str(e)) from None
    return session


def cache_must_exist(db: Optional[Path]) -> None:
    """Report and undo read a cache: a missing one is a usage error, not a new, empty one."""
    from genretag.store.cache import default_db_path

    path = db or default_db_path()
    if not path.is_file():
        raise usage_error(f"{path}: no such cache file")


def open_cache(db: Optional[Path], must_exist: bool = False, read_only: bool = False):
    """The cache; with ``must_exist`` (report, undo), a missing file is a usage error
    rather than a new, empty cache; ``read_only`` (report) changes nothing in it."""
    from genretag.store.cache import Cache, CacheError, default_db_path

    path = db or default_db_path()
    if must_exist:
        cache_must_exist(db)
    if db is not None and not db.absolute().parent.is_dir():
        raise usage_error(f"{db}: no such folder for the cache (--db)")
    try:
        return Cache(path, read_only=read_only and path.is_file())
    except CacheError as e:
        raise usage_error(str(e)) from None


def scan(
    paths: list[Path] = typer.Argument(..., help="Folders (or files) to tag."),
    dry_run: bool = typer.Option(False, "--dry-run", "--pretend", "-n",
                                 help="Show what would change; touch no file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing genres."),
    merge: bool = typer.Option(False, "--merge", help="Add to existing genres."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="At most K genres a track (the best, "
                              "then others at --min-confidence; --parents adds theirs)."),
    min_confidence: float = typer.Option(0.3, "--min-confidence", min=0.0, max=1.0,
                                         help="Least probability a genre needs; a track whose "
                                              "best is lower stays untagged (unsure)."),
    map_file: Optional[Path] = typer.Option(None, "--map", help="TOML file: label = \"Name\"."),
    parents: bool = typer.Option(False, "--parents", help="Also write the parent genres of "
                                 "each chosen one (House -> Dance -> Electronic)."),
    labels: str = typer.Option("all", "--labels", help="Which of the model's genres may be "
                               "written: all, or a set it names (gtzan: the ten GTZAN genres)."),
    by: GroupBy = typer.Option(GroupBy.ALBUM, "--by", help="Decide by album (tracks sharing "
                               "album and album artist tags), by folder (untagged libraries), "
                               "or track by track."),
    album_strict: bool = typer.Option(False, "--album-strict", help="Give outliers their "
                                      "album's genres too."),
    status: Optional[str] = typer.Option(None, "--status", help="Only list rows with these "
                                         "statuses in the table and report (comma-separated: "
                                         "conflict,unsure,error...)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write rows to "
                                                                  ".json, .csv, .html or "
                                                                  ".parquet."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    device: Device = typer.Option(Device.AUTO, "--device", help=DEVICE_HELP),
    runtime: Runtime = typer.Option(Runtime.AUTO, "--runtime", help=RUNTIME_HELP),
    engine: Engine = ENGINE_OPT,
    ray_address: Optional[str] = RAY_ADDRESS_OPT,
    coverage: CoverageMode = typer.Option(CoverageMode.AUTO, "--coverage",
                                          help="full: every window; fast: K windows per "
                                               "track; auto: full on GPU, fast on CPU."),
    windows: int = typer.Option(4, "--windows", min=1, help="K for --coverage fast."),
    batch_size: int = typer.Option(0, "--batch-size", min=0,
                                   help="Windows per CNN batch (0: 16 on CPU, 256 on GPU)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Decode workers (0: one per core)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress, no table; a real "
                               "run prints a summary instead of one line per written file."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Under each failed file, "
                                 "what the decoder (ffmpeg) said."),
) -> None:
    """Classify every track under PATHS and write genre tags (see --dry-run first)."""
    from genretag.render import report as rep
    from genretag.render.progress import ScanProgress

    if overwrite and merge:
        raise usage_error("--overwrite and --merge cannot be used together")
    for p in paths:
        if not p.exists():
            raise usage_error(f"{p}: no such file or folder")
    if report is not None and report.suffix.lower() not in rep.REPORT_SUFFIXES:
        raise usage_error(f"{report}: report must end in .json, .csv, .html or .parquet")
    why = rep.parquet_missing() if report is not None and \
        report.suffix.lower() == ".parquet" else None
    if why:
        raise usage_error(f"{report}: {why}")
    if report is not None and not report.absolute().parent.is_dir():
        raise usage_error(f"{report}: no such folder for the report")
    shown = set(SCAN_STATUSES)
    if status:
        shown = {s.strip() for s in status.split(",") if s.strip()}
        unknown = shown - set(SCAN_STATUSES)
        if unknown:
            raise usage_error(f"--status {', '.join(sorted(unknown))}: choose from "
                              f"{', '.join(SCAN_STATUSES)}")
    from genretag.hearing.rayengine import RayError
    from genretag.models.file import ModelFileError
    from genretag.models.loader import RuntimeUnavailable
    from genretag.store.cache import CacheError

    session = open_session(dict(
        model=model, device=device, runtime=runtime, engine=engine, ray_address=ray_address,
        db=db, dry_run=dry_run,
        policy=Policy.OVERWRITE if overwrite else Policy.MERGE if merge else Policy.FILL,
        top_k=top_k, min_confidence=min_confidence, labels=labels, genre_map=map_file,
        parents=parents, by=by, album_strict=album_strict, coverage=coverage,
        windows=windows, batch_size=batch_size, workers=workers))
    try:
        with ScanProgress(err, quiet, "dry run" if dry_run else "tagging") as progress:
            result = session.scan(paths, on_progress=progress.advance,
                                  on_found=progress.found)
            progress.finish(result.tracks, result.elapsed)
    except (ModelFileError, RuntimeUnavailable) as e:
        raise usage_error(str(e)) from None
    except RayError as e:
        raise usage_error(f"--engine ray: {e}") from None
    finally:
        try:
            session.close()
        except CacheError as e:
            err.print(f"genretag: error: {e}", markup=False, soft_wrap=True)
    folders = [p for p in paths if p.is_dir()]
    listed = [r for r in result.rows if r.status in shown]
    if dry_run and not quiet:
        out.print(rep.rows_table(listed, "what would change", folders))
    elif not dry_run:
        rep.print_changes(out, result, folders, quiet,
                          shown if status else set(rep.LISTED_AFTER_A_RUN))
    if not quiet:
        rep.print_skipped(out, result, folders)
        out.print(rep.summary_table(result, dry_run))
        t = result.timings
        out.print(f"device {result.device}, coverage {result.coverage}; decoded "
                  f"{result.decoded} files; time: decode {t.decode:.1f} s (all workers), "
                  f"frontend {t.frontend:.1f} s, CNN {t.cnn:.1f} s, tags "
                  f"{result.tag_seconds:.1f} s, cache {result.cache_seconds:.1f} s")
    rep.print_errors(err, result, verbose)
    report_failed = False
    if report is not None:
        try:
            rep.write_report(report, result, dry_run, listed, folders)
            if not quiet:
                out.print(f"report written to {report}", markup=False)
        except OSError as e:  # the scan's work is cached; only the report is lost
            err.print(f"{report}: cannot write report ({e.strerror or e})", markup=False,
                      soft_wrap=True)
            report_failed = True
    if result.cache_error:
        err.print(f"genretag: error: {result.cache_error}; the scan stopped, and no file was "
                  "written whose undo history could not be stored", markup=False,
                  soft_wrap=True)
        raise typer.Exit(2)
    if result.interrupted:
        err.print("interrupted: finished tracks are cached; run the same command to resume")
        raise typer.Exit(130)
    raise typer.Exit(1 if result.counts()[Status.ERROR] or report_failed else 0)


def predict(
    file: Path = typer.Argument(..., help="One audio file."),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    device: Device = typer.Option(Device.AUTO, "--device", help=DEVICE_HELP),
    runtime: Runtime = typer.Option(Runtime.AUTO, "--runtime", help=RUNTIME_HELP),
    coverage: CoverageMode = typer.Option(CoverageMode.AUTO, "--coverage",
                                          help="As scan's: full: every window; fast: K "
                                               "windows; auto: full on GPU, fast on CPU."),
    windows: int = typer.Option(4, "--windows", min=1, help="K for --coverage fast."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Print a track's genre probabilities and which genre dominates where (with scan's
    coverage, so the numbers are the ones a scan of it decides from)."""
    import json

    import numpy as np
    from rich.table import Table
    from rich.text import Text

    from genretag.api import ConfigError
    from genretag.library.decode import DecodeError
    from genretag.models.file import ModelFileError
    from genretag.models.loader import RuntimeUnavailable

    session = open_session(dict(model=model, device=device, runtime=runtime,
                                coverage=coverage, windows=windows))
    try:
        res = session.predict(file)
    except (ConfigError, ModelFileError, RuntimeUnavailable) as e:
        raise usage_error(str(e)) from None
    except DecodeError as e:
        err.print(f"{printable(file)}: {e}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        session.close()
    labels = res.labels
    order = sorted(range(len(labels)), key=lambda i: -res.probabilities[i])
    timeline = timeline_of(res.window_starts, np.asarray(res.window_probabilities), labels,
                           res.window_seconds)
    heard = (f"coverage {res.coverage}: " + ("every window" if res.coverage == CoverageMode.FULL
                                             else f"{len(res.window_starts)} windows spread "
                                                  "over the track"))
    if json_out:
        # the bytes of a file name that is not UTF-8 as JSON's \\udcNN escapes (lossless)
        out.print(json.dumps({
            "path": str(file), "coverage": res.coverage, "windows": len(res.window_starts),
            "probabilities": {labels[i]: res.probabilities[i] for i in order},
            "timeline": [{"start": s, "end": e, "genre": g, "probability": p}
                         for s, e, g, p in timeline]}, indent=2, ensure_ascii=False)
                  .encode("utf-8", "backslashreplace").decode("utf-8"),
                  markup=False, highlight=False, soft_wrap=True)
        return
    t = Table(title=Text(printable(file)))
    t.add_column("genre")
    t.add_column("probability", justify="right")
    for i in order:
        t.add_row(Text(labels[i]), f"{res.probabilities[i]:.3f}")
    out.print(t)
    out.print(heard, markup=False, soft_wrap=True)
    tl = Table(title="timeline: each window heard alone (the table above pools every window "
                     "into the track's probabilities, as a scan does)")
    tl.add_column("from")
    tl.add_column("to")
    tl.add_column("genre")
    tl.add_column("mean p", justify="right")
    for s, e, g, p in timeline:
        tl.add_row(clock(s), clock(e), Text(g), f"{p:.2f}")
    out.print(tl)


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def timeline_of(starts, probs, labels: list[str], window_seconds: float):
    """Runs of consecutive windows with the same top genre: (start, end, genre, mean p)."""
    runs: list[list] = []
    for s, p in sorted(zip(starts, probs), key=lambda sp: sp[0]):
        top = int(p.argmax())
        if runs and runs[-1][2] == labels[top]:
            runs[-1][1] = float(s) + window_seconds
            runs[-1][3].append(float(p[top]))
        else:
            runs.append([float(s), float(s) + window_seconds, labels[top], [float(p[top])]])
    for this, following in zip(runs, runs[1:]):  # windows overlap: a run ends where the next begins
        this[1] = following[0]
    return [(s, e, g, sum(ps) / len(ps)) for s, e, g, ps in runs]


def report_cmd(db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Summarise what the cache knows: statuses, genres, errors, undoable writes."""
    from rich.table import Table
    from rich.text import Text

    cache = open_cache(db, must_exist=db is not None, read_only=True)
    s = cache.summary()
    cache.close()
    out.print(f"cache: {printable(cache.path)}", markup=False, soft_wrap=True)  # a path is no title
    t = Table(show_header=False)
    t.add_column("what")
    t.add_column("n", justify="right")
    t.add_row("tracks", str(s["tracks"]))
    for status, n in s["by_status"].items():
        t.add_row(f"  {status}", str(n))
    if s["dry_run"]:
        t.add_row("last seen by a dry run (nothing written)", str(sum(s["dry_run"].values())))
        for status, n in s["dry_run"].items():
            t.add_row(f"  {status} (dry run)", str(n))
    for genre, n in sorted(s["genres"].items(), key=lambda kv: -kv[1]):
        t.add_row(Text(f"  in the files: {genre}"), str(n))
    t.add_row("writes that undo can restore", str(s["writes"]))
    out.print(t)
    for path, error in s["errors"]:
        out.print(f"error: {printable(path)}: {error}", markup=False, soft_wrap=True)


def undo(
    paths: Optional[list[Path]] = typer.Argument(None, help="Files or folders to restore."),
    every: bool = typer.Option(False, "--all", help="Restore every file genretag wrote, in "
                               "every library the cache knows."),
    last: bool = typer.Option(False, "--last", help="Restore what the most recent scan that "
                              "still has writes to undo wrote (under PATHS, if given)."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show what would be restored."),
    force: bool = typer.Option(False, "--force", help="Restore even files edited since."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask first (on a terminal, "
                             "--all and --last ask before restoring more than PATHS)."),
) -> None:
    """Restore the genre each file had before genretag wrote it."""
    from genretag.api import ConfigError
    from genretag.render import report as rep
    from genretag.store.cache import CacheError

    for p in paths or []:
        if not os.path.lexists(p):
            raise usage_error(f"{p}: no such file or folder")
    if not paths and not every and not last:
        if not on_terminal():
            raise usage_error("name the files or folders to restore, or use --all for every "
                              "library the cache knows, or --last for the most recent scan")
        every = True  # asked below, as --all is
    session = open_session(dict(db=db, dry_run=dry_run), must_exist=True)
    try:
        scan = session.last_scan(paths) if last else None
        if last and scan is not None:
            out.print(f"the most recent scan with writes to undo: {scan.started}, "
                      f"{scan.files} file(s)", markup=False)
        if (every or last) and not (yes or dry_run) and on_terminal() and (
                not last or scan is not None):
            question = (f"Restore what the scan of {scan.started} wrote ({scan.files} "
                        "file(s))?" if last and scan else "Restore every file genretag "
                        "wrote, in every library the cache knows?")
            if not typer.confirm(question, default=False):
                session.close()
                out.print("nothing restored")
                raise typer.Exit(0)
        rows = session.undo(paths, last=last, force=force, scan=scan)
        session.close()
    except (ConfigError, CacheError) as e:
        raise usage_error(f"{e} (use --db for another cache)" if isinstance(e, ConfigError)
                          else str(e)) from None
    folders = [p for p in paths or [] if p.is_dir()]
    for r in rows:
        path = rep.shown_path(r.path, folders)
        if r.status == UndoStatus.ERROR:
            err.print(f"{path}: {r.error}", markup=False, soft_wrap=True)
        elif r.status == UndoStatus.GONE:
            out.print(f"{r.status}: {path}: {r.error}", markup=False, soft_wrap=True)
        else:
            out.print(f"{r.status}: {path} → {'; '.join(r.restored) or '(no genre)'}",
                      markup=False, soft_wrap=True)
    failed = sum(r.status == UndoStatus.ERROR for r in rows)
    done = sum(r.status in (UndoStatus.RESTORED, UndoStatus.WOULD_RESTORE) for r in rows)
    gone = sum(r.status == UndoStatus.GONE for r in rows)
    out.print(f"{done} {'would be restored' if dry_run else 'restored'}, {failed} failed"
              + (f", {gone} deleted since (history closed)" if gone and not dry_run else "")
              + (f", {gone} deleted since" if gone and dry_run else ""))
    raise typer.Exit(1 if failed else 0)


def on_terminal() -> bool:
    """Whether a person can answer a question (standard input is a terminal)."""
    return sys.stdin.isatty()


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    from genretag.models.file import ModelFileError, default_model_path, read_metadata

    try:
        release = version("genretag")
    except PackageNotFoundError:
        release = "(not installed)"
    try:
        model = f"default model {read_metadata(default_model_path()).model_id}"
    except ModelFileError as e:
        model = f"default model unusable: {e}"
    out.print(f"genretag {release}, {model}", markup=False)
    raise typer.Exit(0)


def _main_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and the default model's id."),
) -> None:
    """Offline genre tagger for music libraries."""


def _load_plugins(app: typer.Typer) -> None:
    """Commands other packages add (the training package adds train and evaluate)."""
    for ep in entry_points(group="genretag.commands"):
        try:
            ep.load()(app)
        except Exception as e:  # a broken plug-in must not take the tagger down
            print(f"genretag: warning: command plug-in {ep.name} failed to load: {e}",
                  file=sys.stderr)


def build_app(plugins: bool = True) -> typer.Typer:
    """The command line: the tagger's commands, then those the plug-ins add. Each call
    builds a new one, so nothing is registered into shared state at import time."""
    app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                      help="Offline genre tagger for music libraries.")
    app.callback()(_main_options)
    app.command()(scan)
    app.command()(predict)
    app.command("report")(report_cmd)
    app.command()(undo)
    if plugins:
        _load_plugins(app)
    return app


def set_process_policy() -> None:
    """Once, at the entry point, before torch or numba are imported (start-up stays light;
    a user's own settings win):

    - every core for torch's CNN (decoding runs in ffmpeg processes beside it);
    - numba's compiled code (librosa's, for models with a feature head) cached in the user
      cache folder, so it is compiled once per machine (about 14 s here), not once per run
      wherever the installed package's folder is read-only.
    """
    from platformdirs import user_cache_dir

    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(user_cache_dir("genretag")) / "numba"))


def main() -> None:
    set_process_policy()
    build_app()()
