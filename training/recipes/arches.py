"""One recipe per ``--arch`` (``states.Arch``, the tagger's own vocabulary): what each
trains, from the options train and evaluate share. ``RECIPES`` is the registry;
``recipe.fit_model`` carries each out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from genretag.states import Arch
from genretag.training.recipes.featuremlp import MLPConfig
from genretag.training.recipes.options import Options
from genretag.training.recipes.recipe import Recipe

SCRATCH_PATIENCE = 8  # --patience's default for a network trained from random weights
FINETUNE_EPOCHS = 2  # musicnn-finetune's whole-network epochs, unless --finetune-all says


def _seeded(r: Recipe, o: Options) -> Recipe:
    r.probe = replace(r.probe, seed=o.seed)
    r.head = replace(
        r.head,
        seed=o.seed,
        mixup=o.mixup,
        patience=o.patience or 0,
        epochs=o.epochs if o.epochs and not r.from_scratch else r.head.epochs,
    )
    aug = {} if o.augment else {"augment": None, "mixup": 0.0}
    # a network from random weights gets early stopping on held-out artists by default
    r.scratch = replace(
        r.scratch,
        seed=o.seed,
        patience=SCRATCH_PATIENCE if o.patience is None else o.patience,
        epochs=o.epochs if o.epochs and r.from_scratch else r.scratch.epochs,
        **aug,
    )
    r.finetune = replace(r.finetune, seed=o.seed, patience=o.patience or 0, lr=o.finetune_lr, **aug)
    return r


def musicnn_genres(o: Options) -> Recipe:
    """Independent genres of several datasets on the frozen tagger (``recipes.genres``)."""
    return _seeded(Recipe(head_kind="genres"), o)


def musicnn_track(o: Options) -> Recipe:
    """Linear probes on the frozen tagger's pooled windows, and the genres its tags name."""
    return _seeded(Recipe(head_kind="track", cnn_weight=o.cnn_weight), o)


def musicnn_window(o: Options) -> Recipe:
    """musicnn's back end fine-tuned per window, the backbone frozen."""
    return _seeded(Recipe(head_kind="window", cnn_weight=o.cnn_weight), o)


def musicnn_finetune(o: Options) -> Recipe:
    """The back end per window, then the whole network at a low rate."""
    return _seeded(
        Recipe(
            head_kind="window",
            cnn_weight=o.cnn_weight,
            finetune_epochs=o.finetune or FINETUNE_EPOCHS,
        ),
        o,
    )


def mel_cnn(o: Options) -> Recipe:
    """A narrow musicnn from random weights on log-mels (64 bands unless --n-mels says)."""
    return _seeded(
        Recipe(
            head_kind="window", cnn_weight=o.cnn_weight, from_scratch=True, n_mels=o.n_mels or 64
        ),
        o,
    )


def raw_cnn(o: Options) -> Recipe:
    """A SampleCNN from random weights on the raw waveform."""
    return _seeded(
        Recipe(head_kind="window", cnn_weight=o.cnn_weight, from_scratch=True, raw_cnn=True), o
    )


def features_mlp(o: Options) -> Recipe:
    """A feed-forward network on each window's table features; no musicnn."""
    cfg = MLPConfig(seed=o.seed)
    r = Recipe(
        features_mlp=replace(
            cfg,
            epochs=o.epochs or cfg.epochs,
            patience=cfg.patience if o.patience is None else o.patience,
        )
    )
    r.scratch = replace(r.scratch, seed=o.seed)
    r.probe = replace(r.probe, seed=o.seed)
    return r


RECIPES: dict[Arch, Callable[[Options], Recipe]] = {
    Arch.MUSICNN_GENRES: musicnn_genres,
    Arch.MUSICNN_TRACK: musicnn_track,
    Arch.MUSICNN_WINDOW: musicnn_window,
    Arch.MUSICNN_FINETUNE: musicnn_finetune,
    Arch.MEL_CNN: mel_cnn,
    Arch.RAW_CNN: raw_cnn,
    Arch.FEATURES_MLP: features_mlp,
}
