"""What a model file says its network expects and is: plain values, without torch, so that
reading a model file's header (a re-scan of an unchanged library does nothing else) stays
light. ``audio`` and ``model`` build on them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from genretag.states import Net


@dataclass(frozen=True)
class AudioParams:
    """What the model expects of its input.

    ``window_frames`` spectrogram frames make one model window; with ``center=True`` STFT
    framing that is ``(window_frames - 1) * hop_length`` samples. In full coverage a new
    window starts every ``window_hop_frames`` frames.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    window_frames: int = 187
    window_hop_frames: int = 93  # windows start this far apart in full coverage: 50% overlap
    log_scale: float = 10000.0  # input is log10(log_scale * mel + 1), as musicnn was trained

    @property
    def window_samples(self) -> int:
        return (self.window_frames - 1) * self.hop_length

    @property
    def window_hop_samples(self) -> int:
        return self.window_hop_frames * self.hop_length

    @property
    def window_seconds(self) -> float:
        return self.window_samples / self.sample_rate

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AudioParams:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class Architecture:
    """Sizes of a musicnn network; the defaults are MSD_musicnn's."""

    frontend_filters: float = 1.6  # multiplier: 1.6 -> 204 timbral and 51 temporal filters
    midend_filters: int = 64
    backend_units: int = 200
    activation: str = "softmax"  # softmax: one genre per clip; sigmoid: independent tags
    head: str = "window"  # window: classify windows, average; track: classify pooled windows
    # or "vgg": musicnn's VGG baseline (5 convolutions, 80x filters wide); or "features-mlp":
    # a feed-forward network on each window's table features (``tagger.features``), with
    # ``backend_units`` units in each of its two hidden layers; or "raw-cnn": a SampleCNN on
    # the raw waveform, ``midend_filters`` channels wide at first
    name: str = "musicnn"

    @property
    def timbral_filters(self) -> int:
        return int(self.frontend_filters * 128)

    @property
    def temporal_filters(self) -> int:
        return int(self.frontend_filters * 32)

    def frontend_channels(self) -> int:
        return 2 * self.timbral_filters + 3 * self.temporal_filters

    def embedding_size(self) -> int:
        """Channels after the mid end; the pooled embedding has twice as many (max, mean)."""
        return self.frontend_channels() + 3 * self.midend_filters

    @property
    def hears_features(self) -> bool:
        """Its windows are heard as table features, not as a log-mel spectrogram."""
        return self.name == Net.FEATURES_MLP

    @property
    def hears_waveform(self) -> bool:
        """Its windows are heard as they are: samples, not a log-mel spectrogram."""
        return self.name == Net.RAW_CNN

    @property
    def hears_mels(self) -> bool:
        return not (self.hears_features or self.hears_waveform)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)
