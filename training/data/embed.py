"""Window embeddings of a pretrained backbone, computed once and cached on disk.

Fine-tuning the head needs the backbone's pooled features of every window of every clip.
They come from the tagger's own pipeline (same decoder, same windows, same frontend), with
the backbone in place of the classifier, and are kept per file under a cache folder keyed by
the backbone's model id and the file's size and mtime, so re-runs and folds reuse them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from genretag.hearing.base import hearer
from genretag.hearing.windows import Coverage
from genretag.models.net import Model
from genretag.settings import Settings
from genretag.states import CoverageMode, Runtime
from genretag.training.data.datasets import Item


@dataclass
class Embedded:
    """Per-item window embeddings (windows, features), and the items that failed."""

    windows: dict[Path, np.ndarray] = field(default_factory=dict)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _key(model_id: str, path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(
        f"{model_id}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
    ).hexdigest()


def embed(
    items: list[Item],
    backbone: Model,
    cache_dir: Path,
    workers: int = 2,
    batch_size: int = 0,
    on_done=None,
    settings: Settings | None = None,
    model_path: Path | None = None,
) -> Embedded:
    """Embeddings of every window (full coverage) of every item; cached in ``cache_dir``;
    heard here, or on a Ray cluster (the engine in ``settings``, whose workers load the backbone
    from ``model_path``), by the pipeline a scan uses."""
    out = Embedded()
    folder = Path(cache_dir) / backbone.model_id
    folder.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[Path, Path]] = []
    for item in dict.fromkeys(i.path for i in items):
        try:
            cached = folder / f"{_key(backbone.model_id, item)}.npy"
        except OSError as e:
            out.failed.append((item, e.strerror or str(e)))
            continue
        if cached.exists():
            out.windows[item] = np.load(cached)
            if on_done:
                on_done()
        else:
            todo.append((item, cached))
    settings = replace(settings or Settings(), batch_size=batch_size, workers=workers)
    predictor = hearer(
        backbone,
        Coverage(CoverageMode.FULL),
        settings,
        model_path=model_path,
        runtime=Runtime.TORCH,
        embeddings=True,
    )
    for res in predictor.predict([p for p, _ in todo]):
        path, cached = todo[res.key]
        if res.error:
            out.failed.append((path, res.error))
        else:
            order = np.argsort(res.window_starts, kind="stable")
            emb = res.window_outputs[order].astype(np.float32)
            np.save(cached, emb)
            out.windows[path] = emb
        if on_done:
            on_done()
    return out


def _per_file(
    items: list[Item], folder: Path, tag: str, compute, workers: int, on_done=None
) -> Embedded:
    """``compute(path) -> array`` for every item's file, in threads, each result cached in
    ``folder``; a file that cannot be decoded or read is listed in ``failed``."""
    from concurrent.futures import ThreadPoolExecutor

    from genretag.library.decode import DecodeError

    folder.mkdir(parents=True, exist_ok=True)
    out = Embedded()

    def one(path: Path) -> tuple[Path, np.ndarray | None, str | None]:
        try:
            cached = folder / f"{_key(tag, path)}.npy"
            if cached.exists():
                return path, np.load(cached), None
            value = compute(path)
            np.save(cached, value)
            return path, value, None
        except DecodeError as e:
            return path, None, str(e)
        except OSError as e:
            return path, None, e.strerror or str(e)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for path, value, why in pool.map(one, dict.fromkeys(i.path for i in items)):
            if value is None:
                out.failed.append((path, why or "no result"))
            else:
                out.windows[path] = value
            if on_done:
                on_done()
    return out


def params_tag(params) -> str:
    """A short name for audio parameters (an ``AudioParams``), keying a cache folder."""
    return hashlib.sha1(json.dumps(params.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def clip_samples(path: Path, rate: int) -> np.ndarray:
    """A clip's middle 30 s (the whole clip when shorter) at ``rate``, (samples,) float32;
    ``DecodeError`` when nothing decodes."""
    from genretag.library.decode import DecodeError, decode, duration_of
    from genretag.models.features import clip_span

    start, length = clip_span(duration_of(path))
    samples = decode(path, rate, start, length)
    if len(samples) == 0:
        raise DecodeError("no audio decoded")
    return samples


def clip_mels(
    items: list[Item],
    model: Model,
    cache_dir: Path,
    workers: int = 2,
    on_done=None,
    n_mels: int = 0,
) -> Embedded:
    """The log-mel spectrogram (frames, n_mels) of every item's middle 30 s (the whole clip
    when shorter), through the tagger's decoder and ``model``'s frontend (with ``n_mels``
    bands instead of the model's, when given); kept as float16 in the cache, keyed by the
    audio parameters. ``windows`` then holds one per item."""
    from dataclasses import replace

    import torch

    from genretag.models.frontend import LogMel

    p = model.params
    frontend = model.frontend
    if n_mels and n_mels != p.n_mels:
        p = replace(p, n_mels=n_mels)
        frontend = LogMel(p).to(model.device)
    tag = params_tag(p)

    def compute(path: Path) -> np.ndarray:
        samples = clip_samples(path, p.sample_rate)
        with torch.inference_mode():
            mel = frontend(torch.from_numpy(samples)[None].to(model.device))[0]
        return mel.cpu().numpy().astype(np.float16)

    return _per_file(items, Path(cache_dir) / f"mels-{tag}", tag, compute, workers, on_done)


def table_features(items: list[Item], cache_dir: Path, workers: int = 2, on_done=None) -> Embedded:
    """The feature table's columns (``tagger.features``) of every item, computed from its
    audio as the tagger does at tagging time; cached like the embeddings. ``windows`` then
    holds one vector (n_columns,) per item."""
    from genretag.models import features

    def compute(path: Path) -> np.ndarray:
        return features.vector(features.of_file(path), features.COLUMNS)

    return _per_file(
        items, Path(cache_dir) / features.EXTRACTOR, features.EXTRACTOR, compute, workers, on_done
    )
