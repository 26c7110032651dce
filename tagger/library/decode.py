"""Decoding: any audio file -> mono float32 samples at the model's sample rate, via ffmpeg.

Which tool does what, and why:

- **Finding ffmpeg** (``ffmpeg_path``): the binary the ``imageio-ffmpeg`` wheel ships, else
  a system ``ffmpeg`` on PATH.
- **Encoding** (``tests/synth.py``: the synthetic music of tests and benchmarks): pydub's
  ``AudioSegment.export``, which does that job whole, pointed at the same ffmpeg. pydub is
  the test extra's: tagging never encodes.
- **Decoding for the model**: ffmpeg called directly (``stream``, ``decode_spans``), because
  pydub cannot express what a scan needs. ``AudioSegment.from_file`` decodes the whole file
  into memory at its own rate (a one-hour mix would take gigabytes), puts ``parameters``
  after the output name, where ffmpeg ignores them (no resampling), and turns a start time
  into an output-side seek that still decodes everything before it; and it asks ffprobe,
  which pip's ffmpeg wheel does not ship, about every file. Here ffmpeg seeks on the input
  side, resamples and downmixes (``-ac 1 -ar SR -f f32le``), decodes the K windows of fast
  coverage in one process, and streams full coverage in chunks, so memory stays bounded
  however long the track is.
- **Duration**: mutagen reads it from the headers (``duration_of``), with no process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

CHUNK_BYTES = 1 << 20  # read ffmpeg's output 1 MiB (262,144 samples) at a time
# -80 dBFS: below the dither of a 16-bit recording's quietest passage; a window whose peak
# stays under it is digital silence, which says nothing about a genre
SILENCE_PEAK = 1e-4


class DecodeError(Exception):
    """A file ffmpeg could not decode; the message is one plain line for the user, and
    ``detail`` what ffmpeg said (for ``--verbose``)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class Silent(DecodeError):
    """A track whose audio decodes but is digital silence wherever it was heard: nothing
    for the model to hear (a scan reports it as unsure, with this reason)."""


# what ffmpeg says -> one plain line (the first that matches)
PLAIN_ERRORS = (
    ("Invalid data found when processing input", "cannot decode: invalid data"),
    ("matches no streams", "no audio stream"),
    ("does not contain any stream", "no audio stream"),
    ("Output file is empty", "no audio decoded"),
    ("No such file or directory", "no such file"),
    ("Permission denied", "permission denied"),
    ("End of file", "cannot decode: the file ends too soon"),
    ("Invalid argument", "cannot decode: invalid data"),
)
_ADDRESS = re.compile(r"\[[^\]]*@ 0x[0-9a-fA-F]+\]\s*")  # "[fc#0 @ 0x55d...] "
_RETURN_CODE = re.compile(r"(Terminating thread|Conversion failed|Error).*?return code -?\d+\s*")


@lru_cache(maxsize=1)
def ffmpeg_path() -> str:
    """The ffmpeg binary: pip's imageio-ffmpeg first, then one on PATH."""
    found = None
    try:
        import imageio_ffmpeg

        found = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # the wheel is missing or ships no binary for this platform
        found = shutil.which("ffmpeg")
    if not found:
        raise DecodeError("no ffmpeg found: `pip install imageio-ffmpeg` or install ffmpeg")
    return found


def _command(
    path: Path, sample_rate: int, start: float | None, duration: float | None
) -> list[str]:
    cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    if start is not None:
        cmd += ["-ss", f"{start:.3f}"]  # before -i: seek in the input, decode nothing before
    if duration is not None:
        cmd += ["-t", f"{duration:.3f}"]
    # "file:" stops a name that starts with "-" or contains ":" being read as an option/protocol
    cmd += [
        "-i",
        f"file:{path}",
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(sample_rate),
        "-f",
        "f32le",
        "-",
    ]
    return cmd


def stream(
    path: Path,
    sample_rate: int,
    start: float | None = None,
    duration: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield float32 mono chunks (samples,) of ``path``, resampled by ffmpeg.

    Raises :class:`DecodeError` (after the chunks it could decode) if ffmpeg fails.
    """
    return _run(_command(path, sample_rate, start, duration))


def _run(command: list[str]) -> Iterator[np.ndarray]:
    """Run an ffmpeg command that writes f32le to stdout; yield its samples in chunks."""
    # ffmpeg's messages go to a file: a pipe could fill up on a badly damaged file and
    # block ffmpeg while we wait on its stdout.
    with tempfile.TemporaryFile() as errors:
        # a session of its own: Ctrl-C in the terminal reaches genretag, which stops ffmpeg
        # itself, rather than killing ffmpeg first and making a good file look broken
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert proc.stdout is not None  # stdout=PIPE
        try:
            leftover = b""
            while True:
                data = proc.stdout.read(CHUNK_BYTES)
                if not data:
                    break
                data = leftover + data
                usable = len(data) - len(data) % 4
                leftover = data[usable:]
                if usable:
                    yield np.frombuffer(data[:usable], dtype="<f4")
            returncode = proc.wait()
        finally:
            if proc.poll() is None:  # the consumer stopped early (Ctrl-C, error): stop ffmpeg
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if returncode != 0:
            errors.seek(0)
            said = errors.read().decode("utf-8", "replace")
            raise DecodeError(plain_error(said), said.strip())


def plain_error(stderr: str) -> str:
    """What ffmpeg said, as one line without its internals (memory addresses, thread
    return codes, the file name the caller already shows), the same on every run."""
    for said, plain in PLAIN_ERRORS:
        if said in stderr:
            return plain
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "cannot decode: ffmpeg gave no reason"
    last = _RETURN_CODE.sub("", _ADDRESS.sub("", lines[-1])).strip(" ()")
    last = last.split(": ")[-1] if ": " in last else last
    return f"cannot decode: {last}" if last else "cannot decode: ffmpeg gave no reason"


def spans_command(path: Path, sample_rate: int, starts: list[float], seconds: float) -> list[str]:
    """One ffmpeg command for several spans of one file: each span is an input of its own
    with an input-side seek, resampled, downmixed and padded or cut to exactly its length,
    and the spans are concatenated into one stream. Each sample comes with a second channel
    that is 1 where ffmpeg decoded it and 0 where it is padding past the end of the audio:
    silence and missing audio are both zeros, and only ffmpeg knows which is which."""
    n = round(seconds * sample_rate)
    cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    for start in starts:
        cmd += ["-ss", f"{start:.3f}", "-t", f"{seconds:.3f}", "-i", f"file:{path}"]
    graph = [
        f"[{i}:a:0]aresample={sample_rate},aformat=sample_fmts=flt:channel_layouts=mono,"
        f"aeval=exprs=val(0)|1:channel_layout=stereo,aformat=channel_layouts=stereo,"
        f"apad=whole_len={n},atrim=end_sample={n}[s{i}]"
        for i in range(len(starts))
    ]
    joined = "".join(f"[s{i}]" for i in range(len(starts)))
    graph.append(f"{joined}concat=n={len(starts)}:v=0:a=1[out]")
    return [*cmd, "-filter_complex", ";".join(graph), "-map", "[out]", "-f", "f32le", "-"]


@dataclass(frozen=True)
class Spans:
    """Spans decoded by ``decode_spans``: ``samples`` (spans, n) float32, zeros past the end
    of the audio; ``decoded`` (spans,) how many of each span's first samples ffmpeg decoded
    (fewer than n: the audio ended, whatever the headers said)."""

    samples: np.ndarray
    decoded: np.ndarray


def decode_spans(path: Path, sample_rate: int, starts: list[float], seconds: float) -> Spans:
    """Spans of ``seconds`` from each of ``starts``, in one ffmpeg process."""
    n = round(seconds * sample_rate)
    chunks = list(_run(spans_command(path, sample_rate, starts, seconds)))
    both = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if len(both) != 2 * n * len(starts):
        raise DecodeError(f"ffmpeg gave {len(both) // 2} samples for {len(starts)} spans of {n}")
    both = both.reshape(len(starts), n, 2)
    return Spans(np.ascontiguousarray(both[..., 0]), (both[..., 1] > 0.5).sum(axis=1))


def decode(
    path: Path, sample_rate: int, start: float | None = None, duration: float | None = None
) -> np.ndarray:
    """The whole (or a span of the) track as one float32 array (samples,)."""
    chunks = list(stream(path, sample_rate, start, duration))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def duration_of(path: Path) -> float | None:
    """The track's duration in seconds from its headers (mutagen; no decoding), or None."""
    import mutagen

    try:
        f = mutagen.File(path)
        length = float(f.info.length) if f is not None and f.info else 0.0
    except Exception:
        return None
    return length if length > 0 else None
