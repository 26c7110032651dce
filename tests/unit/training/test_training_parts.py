"""Parts of training: spectrogram augmentation, early stopping."""

from __future__ import annotations

import numpy as np


def test_spectrogram_augmentations():
    import torch

    from genretag.models.frontend import AudioParams, LogMel
    from genretag.training.data.augment import (
        Augment,
        gain,
        pitch_shift,
        random_windows,
        spec_augment,
    )

    from synth import music

    p = AudioParams()
    frontend = LogMel(p)
    y = torch.from_numpy(music(3.0, p.sample_rate, seed=1))[None]
    x = frontend(y)
    # gain is exact in the model's log scale: +10 dB of power is 10x the samples' power
    assert torch.allclose(gain(x, torch.tensor([10.0])), frontend(y * 10**0.5), atol=1e-3)
    assert torch.allclose(gain(x, torch.tensor([0.0])), x, atol=1e-5)
    assert torch.equal(pitch_shift(x, torch.tensor([0.0])), x)
    up = pitch_shift(x, torch.tensor([12.0]))  # an octave up: band j reads band j / 2
    assert torch.allclose(up[0, :, 40], x[0, :, 20]) and torch.equal(up[0, :, 0], x[0, :, 0])
    gen = torch.Generator().manual_seed(0)
    masked = spec_augment(x, Augment(freq_masks=1, freq_width=96, time_masks=0), gen)
    assert (masked == 0).any() and masked.shape == x.shape
    mel = x[0].numpy()
    w = random_windows([mel, mel[:50]], 100, Augment(), gen)
    assert w.shape == (2, 100, p.n_mels)
    assert torch.equal(random_windows([mel], len(mel), None, gen)[0], x[0])


def test_early_stopping_keeps_the_best_epoch():
    import torch

    from genretag.training.recipes.losses import EarlyStopping, validation_split

    net = torch.nn.Linear(1, 1)
    stop = EarlyStopping(patience=2)
    losses = [3.0, 1.0, 2.0, 2.5, 0.5]
    for epoch, loss in enumerate(losses):
        with torch.no_grad():
            net.bias.fill_(loss)
        if stop.update(epoch, loss, net):
            break
    assert epoch == 3 and stop.best_epoch == 1
    stop.restore(net)
    assert float(net.bias.detach()) == 1.0
    groups = ["a", "a", "b", "c", "d", "e"]
    y = np.array([0, 0, 1, 0, 1, 0])
    tr, va = validation_split(groups, y, seed=0, share=0.4)
    assert not {groups[i] for i in tr} & {groups[i] for i in va}
    assert set(y[tr]) == {0, 1} and len(va) >= 2
