"""The vocabulary of states and choices, one enum each, used everywhere (reports included).

Each is a string enum: its members compare equal to, and serialise as, their values, so
the cache, the reports and the command line keep the same words.
"""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return str(self.value).__format__(spec)


class Status(StrEnum):
    """The verdict on a file in a scan: what the run did or would do with it. The cache
    also keeps ``heard`` (an interrupted scan heard it and decided nothing yet), ``undone``
    (a write undo put back) and, from caches of earlier releases, ``cached``."""

    TAGGED = "tagged"
    WOULD_TAG = "would-tag"
    KEPT = "kept"
    UNSURE = "unsure"
    CONFLICT = "conflict"  # the file's genre contradicts the audio; left alone
    ERROR = "error"
    HEARD = "heard"
    UNDONE = "undone"
    CACHED = "cached"


# statuses a scan reports, in the order its tables list them
SCAN_STATUSES = (
    Status.TAGGED,
    Status.WOULD_TAG,
    Status.KEPT,
    Status.UNSURE,
    Status.CONFLICT,
    Status.ERROR,
)


class Decided(StrEnum):
    """What a person decided about a proposal in ``genretag review`` (kept in the cache)."""

    ACCEPTED = "accepted"  # the proposal, as it stood
    CHANGED = "changed"  # other genres: from the vocabulary, or the owner's own words
    REJECTED = "rejected"  # nothing is to be written
    STALE = "stale"  # (shown, not kept) the file changed since: the decision holds no more


class Source(StrEnum):
    """Where a row's verdict came from: the audio heard in this run, or the cache."""

    HEARD = "heard"
    CACHE = "cache"


class GroupBy(StrEnum):
    """What is decided together: an album (by its tags), a folder, or each track alone."""

    ALBUM = "album"
    FOLDER = "folder"
    TRACK = "track"


class UndoStatus(StrEnum):
    RESTORED = "restored"
    WOULD_RESTORE = "would-restore"
    GONE = "gone"  # the file was deleted: reported once, then its history is closed
    ERROR = "error"


class CoverageMode(StrEnum):
    """full: every window; fast: K windows spread over the track; auto: by device."""

    AUTO = "auto"
    FULL = "full"
    FAST = "fast"


class Device(StrEnum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Engine(StrEnum):
    """Where the tracks are heard: on this machine, or on a Ray cluster."""

    LOCAL = "local"
    RAY = "ray"


class Runtime(StrEnum):
    """What runs the network: auto (ONNX Runtime on a CPU where the model allows it, else
    PyTorch), torch, or onnx."""

    AUTO = "auto"
    TORCH = "torch"
    ONNX = "onnx"


class Policy(StrEnum):
    """What to do with a file that already has a genre."""

    FILL = "fill"  # write only where there is none
    OVERWRITE = "overwrite"
    MERGE = "merge"  # add to what is there


class ModelKind(StrEnum):
    """What a model file holds: a genre model to tag with, or a pretrained backbone (a
    tagger whose tags are not genres to write) to train one on."""

    GENRE_MODEL = "genre-model"
    BACKBONE = "backbone"


class Net(StrEnum):
    """A network's body, as a model file names it (``Architecture.name``); each is one
    module of ``models`` (``models.registry``)."""

    MUSICNN = "musicnn"  # musicnn: timbral and temporal filters, a dense mid end
    VGG = "vgg"  # musicnn's VGG baseline: 5 convolutions
    FEATURES_MLP = "features-mlp"  # a feed-forward network on each window's table features
    RAW_CNN = "raw-cnn"  # a SampleCNN on the raw waveform


class Head(StrEnum):
    """What a genre model's head classifies (``Architecture.head``)."""

    WINDOW = "window"  # each window; a track is their mean
    TRACK = "track"  # a track's pooled backbone statistics, beside a pretrained tagger
    LIBRARY = "library"  # learnt from a library's own tags (genretag learn)
    GENRES = "genres"  # independent genres on a track's pooled statistics (the default model)


class Arch(StrEnum):
    """What ``genretag train --arch`` and ``evaluate --arch`` build: one recipe each
    (``training.recipes``), and the :class:`Net` and :class:`Head` of the model it writes."""

    MUSICNN_GENRES = "musicnn-genres"  # independent genres of several datasets, on the tagger
    MUSICNN_TRACK = "musicnn-track"  # probes on the frozen tagger's pooled windows
    MUSICNN_WINDOW = "musicnn-window"  # musicnn's back end fine-tuned per window
    MUSICNN_FINETUNE = "musicnn-finetune"  # the back end, then the whole network
    MEL_CNN = "mel-cnn"  # a CNN on log-mels from random weights
    RAW_CNN = "raw-cnn"  # a 1-D CNN on the raw waveform from random weights
    FEATURES_MLP = "features-mlp"  # a feed-forward network on each window's table features

    @property
    def net(self) -> Net:
        return {Arch.RAW_CNN: Net.RAW_CNN, Arch.FEATURES_MLP: Net.FEATURES_MLP}.get(
            self, Net.MUSICNN
        )

    @property
    def head(self) -> Head:
        return {Arch.MUSICNN_TRACK: Head.TRACK, Arch.MUSICNN_GENRES: Head.GENRES}.get(
            self, Head.WINDOW
        )
