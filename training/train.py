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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genretag.tagger import features
from genretag.tagger.model import GenreNet, Head, Model, save_model
from genretag.tagger.pooling import WindowPool

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
    mixup: float = 0.0  # Beta(a, a) mixing of window embeddings and their labels; 0: off
    patience: int = 0  # early stopping on a grouped validation split; 0: off


class EarlyStopping:
    """Keeps the weights of the epoch with the lowest validation loss, and says when
    ``patience`` epochs have gone by without a better one."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_epoch, self.state = patience, float("inf"), -1, None

    def update(self, epoch: int, loss: float, module: torch.nn.Module) -> bool:
        """Record an epoch; True when training should stop."""
        if loss < self.best:
            self.best, self.best_epoch = loss, epoch
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return epoch - self.best_epoch >= self.patience

    def epoch_done(self, epoch: int, loss: float, validate, module: torch.nn.Module,
                   on_epoch=None) -> bool:
        """Close an epoch: validate (``validate() -> loss``, or None without a validation
        split), report ``on_epoch(epoch, loss, val_loss)``; True when training should stop."""
        val_loss = validate() if validate is not None else None
        if on_epoch:
            on_epoch(epoch, loss, val_loss)
        return val_loss is not None and self.update(epoch, val_loss, module)

    def restore(self, module: torch.nn.Module) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


def validation_split(groups: list[str], y: np.ndarray, seed: int, share: float = 0.2
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices with whole groups on one side: about ``share`` of the
    clips, drawn so that every label keeps at least one group for training."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    rng.shuffle(names)
    val: set[str] = set()
    target = share * len(groups)
    for g in names:
        members = [i for i, gi in enumerate(groups) if gi == g]
        rest = [i for i, gi in enumerate(groups) if gi != g and gi not in val]
        if set(y[members]) - set(y[rest]):
            continue  # would take a label's last training group
        val.add(g)
        if sum(gi in val for gi in groups) >= target:
            break
    is_val = np.array([g in val for g in groups])
    return np.where(~is_val)[0], np.where(is_val)[0]


def mix(x: torch.Tensor, y: torch.Tensor, n_labels: int, alpha: float,
        gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """mixup (Zhang et al. 2018): (batch, ...) inputs and label indices -> mixed inputs and
    soft targets (batch, n_labels). ``alpha`` 0 returns one-hot targets."""
    target = F.one_hot(y, n_labels).float()
    if alpha <= 0 or len(x) < 2:
        return x, target
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(len(x), generator=gen)
    return lam * x + (1 - lam) * x[perm], lam * target + (1 - lam) * target[perm]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                       class_weight: torch.Tensor) -> torch.Tensor:
    """Class-weighted cross-entropy against soft targets (batch, n_labels), normalised by
    the batch's total weight as ``F.cross_entropy(weight=...)`` is."""
    w = target @ class_weight
    return -(w * (target * F.log_softmax(logits, -1)).sum(-1) / target.sum(-1)).sum() / w.sum()


def class_weights(y: np.ndarray, n_labels: int) -> torch.Tensor:
    """Per-class weights (n_labels,) that give every present class the same total weight
    over the samples ``y`` (absent classes get 0)."""
    count = np.bincount(y, minlength=n_labels).astype(np.float64)
    weight = np.where(count > 0, 1.0 / np.maximum(count, 1), 0.0)
    weight *= len(y) / max(1, (count > 0).sum())
    return torch.tensor(weight, dtype=torch.float32)


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
             cfg: HeadConfig, on_epoch=None, groups: list[str] | None = None
             ) -> tuple[Head, list[float]]:
    """Train a head on ``windows[i]`` (n_i, features) of clips labelled ``y[i]``.

    Classes are weighted by the inverse of their window counts, so that 8 blues clips weigh
    as much as 75 rock clips. With ``cfg.patience`` (and ``groups``), a grouped fifth of the
    clips is held out and the epoch with the lowest validation loss is kept. Returns the head
    and the mean training loss of each epoch; ``on_epoch(epoch, loss, val_loss)``.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    val_idx = np.array([], dtype=int)
    if cfg.patience and groups is not None:
        train_idx, val_idx = validation_split(groups, y, cfg.seed)
        windows, y, val_windows, val_y = ([windows[i] for i in train_idx], y[train_idx],
                                          [windows[i] for i in val_idx], y[val_idx])
    head = init_head(pretrained, labels)
    anchor = {n: p.detach().clone() for n, p in head.named_parameters()}
    X = torch.from_numpy(np.concatenate(windows)).float()
    Y = torch.from_numpy(np.concatenate([np.full(len(w), c) for w, c in zip(windows, y)]))
    class_weight = class_weights(Y.numpy(), len(labels))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=0.0)
    stopper = EarlyStopping(cfg.patience)
    losses = []
    for epoch in range(cfg.epochs):
        head.train()
        total, n = 0.0, 0
        for batch in torch.randperm(len(X), generator=gen).split(cfg.batch_size):
            x, target = mix(X[batch], Y[batch], len(labels), cfg.mixup, gen)
            loss = soft_cross_entropy(head(x), target, class_weight)
            pull = sum(((p - anchor[name]) ** 2).sum() for name, p in head.named_parameters())
            opt.zero_grad()
            (loss + cfg.l2sp * pull).backward()
            opt.step()
            total, n = total + float(loss.detach()) * len(batch), n + len(batch)
        losses.append(total / max(n, 1))
        validate = None
        if len(val_idx):
            validate = lambda: clip_loss(head_probabilities(head, val_windows), val_y,  # noqa: E731
                                         len(labels))
        if stopper.epoch_done(epoch, losses[-1], validate, head, on_epoch):
            break
    stopper.restore(head)
    head.eval()
    return head, losses


def clip_loss(probabilities: np.ndarray, y: np.ndarray, n_labels: int) -> float:
    """Class-balanced negative log-likelihood of clip probabilities (clips, n_labels)."""
    w = class_weights(y, n_labels).numpy()[y]
    nll = -np.log(np.clip(probabilities[np.arange(len(y)), y], 1e-9, None))
    return float((w * nll).sum() / w.sum())


@torch.inference_mode()
def head_probabilities(head: Head, windows: list[np.ndarray]) -> np.ndarray:
    """Clip probabilities (clips, n_labels) of a window head on cached embeddings, pooled as
    the tagger pools a track (for the validation loss while the head trains)."""
    head.eval()
    dev = next(head.parameters()).device
    return np.stack([WindowPool.of(torch.softmax(head(torch.from_numpy(w).float().to(dev)), -1)
                                   .cpu().numpy()).mean for w in windows])


def assemble(pretrained: Model, head: Head, labels: list[str]) -> GenreNet:
    """The pretrained backbone with the new head, as one network."""
    from dataclasses import replace

    arch = replace(pretrained.net.arch, activation="softmax")
    net = GenreNet(arch, pretrained.params, len(labels))
    net.backbone.load_state_dict(pretrained.net.backbone.state_dict())
    net.head.load_state_dict(head.state_dict())
    return net.eval()


def save_genre_model(out: Path, model: Model, method: str, config: dict, data_summary: dict,
                     backbone: Model | None = None, feature_table: str | None = None,
                     started: float | None = None, evaluation: dict | None = None) -> str:
    """Write a trained model (with its feature head, tags and independent genres, if any)
    and what made it."""
    from .probe import PARENTS, TAG_GENRE_NAMES

    labels, net = model.labels, model.net
    genres = {lab: list(tags) for lab, tags in model.metadata.tag_genres.items()}
    exclusive = [lab for lab in labels if lab not in genres]
    names = {**DISPLAY_NAMES, **TAG_GENRE_NAMES}
    extra = {
        "name": "genretag genre model",
        "display_names": {lab: names.get(lab, lab) for lab in labels},
        "label_sets": {"dataset": exclusive},
        "parents": {lab: [p for p in PARENTS.get(lab, []) if p in labels] for lab in labels
                    if any(p in labels for p in PARENTS.get(lab, []))},
        "training": {"method": method, "config": config, "data": data_summary,
                     "seconds": round(time.time() - started, 1) if started else None},
    }
    if set(exclusive) <= set(DISPLAY_NAMES):
        extra["label_sets"]["gtzan"] = exclusive
    if model.metadata.tags:  # a track head: the tagger's tags size its tag layer
        extra["tags"] = list(model.metadata.tags)
    if genres:
        extra["tag_genres"] = genres
    if evaluation:
        extra["evaluation"] = evaluation
    if backbone is not None:
        extra["backbone"] = {"model_id": backbone.model_id,
                             "name": backbone.metadata.name or "musicnn MSD"}
    if net.features is not None:
        extra["features"] = {"columns": list(features.COLUMNS), "extractor": features.EXTRACTOR,
                             "table": feature_table}
    return save_model(out, net, labels, net.params, extra=extra)
