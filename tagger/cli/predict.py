"""``genretag predict``: one track's probabilities, and which genre dominates where."""

from __future__ import annotations

import itertools
from pathlib import Path

import typer

from genretag.cli.common import err, open_session, out, usage_error
from genretag.cli.options import SETTINGS, takes_settings
from genretag.library.discover import printable
from genretag.settings import PREDICT, Settings
from genretag.states import CoverageMode


@takes_settings(PREDICT)
def predict(
    file: Path = typer.Argument(..., help="One audio file."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    settings: Settings = SETTINGS,
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

    session = open_session(settings)
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
    timeline = timeline_of(
        res.window_starts, np.asarray(res.window_probabilities), labels, res.window_seconds
    )
    heard = f"coverage {res.coverage}: " + (
        "every window"
        if res.coverage == CoverageMode.FULL
        else f"{len(res.window_starts)} windows spread over the track"
    )
    if json_out:
        # the bytes of a file name that is not UTF-8 as JSON's \\udcNN escapes (lossless)
        out.print(
            json.dumps(
                {
                    "path": str(file),
                    "coverage": res.coverage,
                    "windows": len(res.window_starts),
                    "probabilities": {labels[i]: res.probabilities[i] for i in order},
                    "timeline": [
                        {"start": s, "end": e, "genre": g, "probability": p}
                        for s, e, g, p in timeline
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
            .encode("utf-8", "backslashreplace")
            .decode("utf-8"),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    t = Table(title=Text(printable(file)))
    t.add_column("genre")
    t.add_column("probability", justify="right")
    for i in order:
        t.add_row(Text(labels[i]), f"{res.probabilities[i]:.3f}")
    out.print(t)
    out.print(heard, markup=False, soft_wrap=True)
    tl = Table(
        title="timeline: each window heard alone (the table above pools every window "
        "into the track's probabilities, as a scan does)"
    )
    tl.add_column("from")
    tl.add_column("to")
    tl.add_column("genre")
    tl.add_column("mean p", justify="right")
    for start, end, genre, p in timeline:
        tl.add_row(clock(start), clock(end), Text(genre), f"{p:.2f}")
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
    # windows overlap: a run ends where the next begins
    for this, following in itertools.pairwise(runs):
        this[1] = following[0]
    return [(s, e, g, sum(ps) / len(ps)) for s, e, g, ps in runs]
