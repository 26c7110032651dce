"""The heads a genre model puts on a backbone: the plain output layer, a logistic
regression (:class:`LinearHead`), the track head over pooled statistics with its
familiarity (:class:`TrackHead`), and the genres a tagger's tags name (:class:`TagGenres`)."""

from __future__ import annotations

import torch
from torch import nn

from genretag.models.pooling import LOGIT_EPS


class OutputLayer(nn.Module):
    """The VGG baseline's back end: one dense layer, (batch, embedding) -> (batch, n)."""

    def __init__(self, in_features: int, n_outputs: int):
        super().__init__()
        self.out = nn.Linear(in_features, n_outputs)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.out(pooled)


class LinearHead(nn.Module):
    """A logistic regression over standardised inputs: (batch, n_in) raw values ->
    (batch, n_out) logits (trained with scikit-learn, run without it)."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("scale", torch.ones(n_in))
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.scale)


def geometric_mix(
    log_a: torch.Tensor,
    log_b: torch.Tensor,
    weight: float | torch.Tensor,
    temperature: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """Two distributions' log-probabilities (..., n) -> the log-probabilities of their
    normalised weighted geometric mean, ``weight`` giving the first one's share, sharpened or
    flattened by ``temperature``. Every fusion of two heads goes through here."""
    return torch.log_softmax((weight * log_a + (1 - weight) * log_b) / temperature, dim=-1)


class Familiarity(nn.Module):
    """How much a track is like the music a head was trained on: the distance of its
    standardised embedding statistics from the nearest genre's centre among the training
    clips, through a logistic map ``sigmoid(slope * log(distance) + bias)`` fitted on genres
    held out of training. The exclusive genres are multiplied by it, so music of a genre the
    head never heard comes out unsure instead of confidently Rock. The defaults (slope 0)
    find every track familiar: model files from before it have none.

    (batch, dim) standardised statistics -> (batch,) in (0, 1].
    """

    centres: torch.Tensor
    slope: torch.Tensor
    bias: torch.Tensor

    def __init__(self, n_labels: int, dim: int):
        super().__init__()
        self.register_buffer("centres", torch.zeros(n_labels, dim))
        self.register_buffer("slope", torch.tensor(0.0))
        self.register_buffer("bias", torch.tensor(30.0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.slope * torch.log(centre_distance(z, self.centres)) + self.bias)


def centre_distance(z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(batch, dim) points, (n, dim) centres -> (batch,) the root mean square difference
    from the nearest centre."""
    d2 = (z[:, None, :] - centres[None]).pow(2).mean(-1)
    return d2.min(-1).values.clamp_min(1e-12).sqrt()


class TrackHead(nn.Module):
    """A track's exclusive genres from its pooled window outputs (a GTZAN clip has one genre).

    Two linear heads, fused as a weighted geometric mean and temperature-scaled:
    - on the backbone's embeddings, their mean and max over windows (batch, 2 * emb);
    - on the pretrained tagger's tag logits, their mean over windows (batch, n_tags): the
      tagger learned its tags from far more artists than a genre dataset has.
    """

    embedding_weight: torch.Tensor
    temperature: torch.Tensor

    def __init__(self, emb: int, n_tags: int, n_labels: int):
        super().__init__()
        self.embedding = LinearHead(2 * emb, n_labels)
        self.tags = LinearHead(n_tags, n_labels)
        self.register_buffer("embedding_weight", torch.tensor(0.5))
        self.register_buffer("temperature", torch.tensor(1.0))
        self.familiarity = Familiarity(n_labels, 2 * emb)

    def familiar(self, emb_mean: torch.Tensor, emb_max: torch.Tensor) -> torch.Tensor:
        """(batch,) how familiar each track's music is (:class:`Familiarity`), on the
        embedding probe's own standardisation."""
        z = (torch.cat([emb_mean, emb_max], -1) - self.embedding.mean) / self.embedding.scale
        return self.familiarity(z)

    def forward(
        self, emb_mean: torch.Tensor, emb_max: torch.Tensor, tag_mean: torch.Tensor
    ) -> torch.Tensor:
        """-> (batch, n_labels) log-probabilities."""
        return geometric_mix(
            torch.log_softmax(self.embedding(torch.cat([emb_mean, emb_max], -1)), -1),
            torch.log_softmax(self.tags(tag_mean), -1),
            self.embedding_weight,
            self.temperature,
        )


class TagGenres(nn.Module):
    """Genres the pretrained tagger names and the genre dataset lacks (Electronic, Folk...),
    each an independent probability: the highest mean logit among the genre's tags, through
    one logistic calibration ``sigmoid(a * logit + b)`` shared by all of them.

    (batch, n_tags) mean tag logits -> (batch, n_genres) probabilities.
    """

    members: torch.Tensor
    scale: torch.Tensor
    bias: torch.Tensor

    def __init__(self, n_genres: int, n_tags: int):
        super().__init__()
        self.register_buffer("members", torch.zeros(n_genres, n_tags))  # 1 where a tag names it
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("bias", torch.tensor(0.0))

    def scores(self, tag_mean: torch.Tensor) -> torch.Tensor:
        masked = tag_mean[:, None, :].masked_fill(self.members[None] == 0, float("-inf"))
        return masked.amax(-1)

    def forward(self, tag_mean: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.scale * self.scores(tag_mean) + self.bias)


def clipped_logit(p: torch.Tensor) -> torch.Tensor:
    """(..., n) probabilities -> their logits, as ``pooling.clipped_logit`` computes them."""
    p = p.clamp(LOGIT_EPS, 1 - LOGIT_EPS)
    return torch.log(p) - torch.log1p(-p)


class StackedHead(LinearHead):
    """A head ``genretag learn`` made over a base model's ``genres`` head: one logistic
    regression per label over the track's standardised statistics *and* the base's genre
    logits, ``sigmoid(linear((x - mean) / scale) + base(logit(p_base)))``, so one layer
    holds labels learnt from a library, labels stacked on the base's genres and the base's
    own genres. A label with its own tracks (``owner``) is 0 on a track farther than its
    ``radius`` from every one of them, in ``axes`` main directions of the statistics.

    (batch, stats) statistics, (batch, base) base probabilities -> (batch, labels).
    """

    basis: torch.Tensor
    spread: torch.Tensor
    points: torch.Tensor
    owner: torch.Tensor
    radius: torch.Tensor

    def __init__(self, n_in: int, n_base: int, n_out: int, n_points: int, n_axes: int):
        super().__init__(n_in, n_out)
        self.base = nn.Linear(n_base, n_out, bias=False)
        self.register_buffer("basis", torch.zeros(n_axes, n_in))
        self.register_buffer("spread", torch.ones(n_axes))
        self.register_buffer("points", torch.zeros(n_points, n_axes))
        self.register_buffer("owner", torch.zeros(n_points, dtype=torch.long))
        self.register_buffer("radius", torch.full((n_out,), float("inf")))

    def probabilities(self, stats: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        xs = (stats - self.mean) / self.scale
        p = torch.sigmoid(self.linear(xs) + self.base(clipped_logit(base)))
        if not len(self.points):
            return p
        near = (xs @ self.basis.T) / self.spread  # (batch, axes)
        d = torch.cdist(near.double(), self.points.double())  # (batch, points)
        mine = self.owner[None, :] == torch.arange(len(self.radius), device=d.device)[:, None]
        nearest = torch.where(mine[None], d[:, None, :], torch.inf).amin(-1)  # (batch, out)
        return torch.where(nearest <= self.radius.double(), p, torch.zeros_like(p))
