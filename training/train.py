"""Fine-tuning a genre head on the pretrained musicnn backbone.

The backbone (front and mid end of musicnn MSD) stays frozen; its pooled window embeddings
are computed once (``embed.py``). The head is musicnn's own back end, initialised from the
pretrained one; its new output layer starts as a *zero-shot* genre classifier: the row of a
genre is the mean of the pretrained rows of the MSD tags that name it (``ZERO_SHOT``). It is
then trained on the labelled windows with class-balanced cross-entropy and an L2 pull toward
that initialisation ("L2-SP"), so genres with few examples keep what the pretrained tagger
knew about them rather than being fitted to one artist.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tagger.model import GenreNet, Head, Model, save_model

# GTZAN genre -> MSD tags of the pretrained tagger that name it (reggae has none).
ZERO_SHOT = {
    "blues": ["blues"],
    "classical": ["instrumental", "beautiful", "ambient"],
    "country": ["country"],
    "disco": ["dance", "funk", "80s", "70s", "party"],
    "hiphop": ["Hip-Hop", "rnb"],
    "jazz": ["jazz"],
    "metal": ["metal", "heavy metal", "hard rock"],
    "pop": ["pop", "catchy", "female vocalists"],
    "rock": ["rock", "classic rock", "alternative rock"],
}
DISPLAY_NAMES = {"blues": "Blues", "classical": "Classical", "country": "Country",
                 "disco": "Disco", "hiphop": "Hip-Hop", "jazz": "Jazz", "metal": "Metal",
                 "pop": "Pop", "reggae": "Reggae", "rock": "Rock"}


@dataclass
class HeadConfig:
    epochs: int = 8
    lr: float = 1e-3
    l2sp: float = 1.0  # pull toward the pretrained / zero-shot initialisation
    batch_size: int = 128
    seed: int = 0


def zero_shot_tags(label: str, tags: list[str]) -> list[str]:
    """The pretrained tags naming ``label``: from ZERO_SHOT, else a tag of the same name."""
    if label in ZERO_SHOT:
        return [t for t in ZERO_SHOT[label] if t in tags]
    same = [t for t in tags if t.casefold().replace("-", "") == label.casefold().replace("-", "")]
    return same


def init_head(pretrained: Model, labels: list[str]) -> Head:
    """musicnn's back end with the pretrained weights and a zero-shot output layer."""
    src = pretrained.net.head
    head = Head(src.dense.in_features, src.dense.out_features, len(labels))
    state = {k: v for k, v in src.state_dict().items() if not k.startswith("out.")}
    head.load_state_dict(state, strict=False)
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.fill_(float(src.out.bias.mean()))
        for c, label in enumerate(labels):
            idx = [pretrained.labels.index(t) for t in zero_shot_tags(label, pretrained.labels)]
            if idx:
                head.out.weight[c] = src.out.weight[idx].mean(0)
                head.out.bias[c] = src.out.bias[idx].mean()
    return head


def fit_head(pretrained: Model, labels: list[str], windows: list[np.ndarray], y: np.ndarray,
             cfg: HeadConfig, on_epoch=None) -> tuple[Head, list[float]]:
    """Train a head on ``windows[i]`` (n_i, features) of clips labelled ``y[i]``.

    Classes are weighted by the inverse of their clip counts, so that 8 blues clips weigh as
    much as 75 rock clips. Returns the head and the mean loss of each epoch.
    """
    torch.manual_seed(cfg.seed)
    head = init_head(pretrained, labels)
    anchor = {n: p.detach().clone() for n, p in head.named_parameters()}
    X = torch.from_numpy(np.concatenate(windows)).float()
    Y = torch.from_numpy(np.concatenate([np.full(len(w), c) for w, c in zip(windows, y)]))
    clips = np.bincount(y, minlength=len(labels)).astype(np.float64)
    per_window = np.bincount(Y.numpy(), minlength=len(labels)).astype(np.float64)
    # weight per window: a class's windows share its weight, which is the same for all classes
    weight = np.where(per_window > 0, 1.0 / np.maximum(per_window, 1), 0.0)
    weight *= len(Y) / max(1, (clips > 0).sum())
    class_weight = torch.tensor(weight, dtype=torch.float32)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for epoch in range(cfg.epochs):
        head.train()
        total, n = 0.0, 0
        for batch in torch.randperm(len(X), generator=gen).split(cfg.batch_size):
            loss = F.cross_entropy(head(X[batch]), Y[batch], weight=class_weight)
            pull = sum(((p - anchor[name]) ** 2).sum() for name, p in head.named_parameters())
            opt.zero_grad()
            (loss + cfg.l2sp * pull).backward()
            opt.step()
            total, n = total + float(loss.detach()) * len(batch), n + len(batch)
        losses.append(total / max(n, 1))
        if on_epoch:
            on_epoch(epoch, losses[-1])
    head.eval()
    return head, losses


@torch.inference_mode()
def predict_clips(head: Head, windows: list[np.ndarray]) -> np.ndarray:
    """Track probabilities: the mean of window softmaxes, as the tagger computes them."""
    return np.stack([torch.softmax(head(torch.from_numpy(w).float()), -1).mean(0).numpy()
                     for w in windows])


def assemble(pretrained: Model, head: Head, labels: list[str]) -> GenreNet:
    """The pretrained backbone with the new head, as one network for a model file."""
    from dataclasses import replace

    arch = replace(pretrained.net.arch, activation="softmax")
    net = GenreNet(arch, pretrained.params, len(labels))
    net.backbone.load_state_dict(pretrained.net.backbone.state_dict())
    net.head.load_state_dict(head.state_dict())
    return net.eval()


def save_genre_model(out: Path, pretrained: Model, head: Head, labels: list[str],
                     cfg: HeadConfig, data_summary: dict, metrics: dict | None = None,
                     started: float | None = None) -> str:
    net = assemble(pretrained, head, labels)
    extra = {
        "name": "genretag genre model",
        "backbone": {"model_id": pretrained.model_id,
                     "name": pretrained.metadata.get("name", "musicnn MSD")},
        "display_names": {lab: DISPLAY_NAMES.get(lab, lab) for lab in labels},
        "training": {"method": "frozen musicnn backbone, fine-tuned back end, zero-shot "
                               "initialised output, class-balanced loss, L2-SP",
                     "config": asdict(cfg), "data": data_summary,
                     "seconds": round(time.time() - started, 1) if started else None},
        "metrics": metrics or {},
    }
    return save_model(out, net, labels, pretrained.params, extra=extra)
