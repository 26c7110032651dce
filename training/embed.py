"""Window embeddings of a pretrained backbone, computed once and cached on disk.

Fine-tuning the head needs the backbone's pooled features of every window of every clip.
They come from the tagger's own pipeline (same decoder, same windows, same frontend), with
the backbone in place of the classifier, and are kept per file under a cache folder keyed by
the backbone's model id and the file's size and mtime, so re-runs and folds reuse them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tagger.classify import Classifier
from tagger.model import Model
from tagger.segments import Coverage

from .datasets import Item


@dataclass
class Embedded:
    """Per-item window embeddings (windows, features), and the items that failed."""

    windows: dict[Path, np.ndarray] = field(default_factory=dict)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _key(model_id: str, path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{model_id}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
                        ).hexdigest()


def embed(items: list[Item], backbone: Model, cache_dir: Path, workers: int = 2,
          batch_size: int = 0, on_done=None) -> Embedded:
    """Embeddings of every window (full coverage) of every item; cached in ``cache_dir``."""
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
    classifier = Classifier(backbone, Coverage("full"), batch_size, workers, keep_windows=True,
                            outputs=backbone.net.backbone)
    for res in classifier.classify([p for p, _ in todo]):
        path, cached = todo[res.key]
        if res.error:
            out.failed.append((path, res.error))
        else:
            order = np.argsort(res.window_starts, kind="stable")
            emb = res.window_probabilities[order].astype(np.float32)
            np.save(cached, emb)
            out.windows[path] = emb
        if on_done:
            on_done()
    return out
