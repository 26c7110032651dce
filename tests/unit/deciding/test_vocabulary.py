"""The vocabulary: merges, renames and genre families."""

from __future__ import annotations

import numpy as np
import pytest

from genretag.deciding.genres import Vocabulary
from genretag.hearing.prediction import Prediction


def test_a_vocabulary_merges_renames_and_knows_families():
    v = Vocabulary.default(
        ["metal", "rock", "heavy-metal"],
        {"metal": "Metal", "rock": "Rock", "heavy-metal": "Heavy Metal"},
        independent=["heavy-metal"],
        parents={"heavy-metal": ["metal"]},
    )
    assert v.family("metal") == {"Metal", "Heavy Metal"} and v.family("Polka") == set()
    assert v.exclusive_names(("metal", "rock", "heavy-metal")) == {"Metal", "Rock"}
    assert v.parent_names("Heavy Metal") == {"Metal"} and v.parent_names("Rock") == set()
    merged = v.with_names({"Rock": "Guitar", "metal": "Guitar"})  # by shown name or label
    assert merged.merge(Prediction(("metal", "rock", "heavy-metal"), np.array([0.3, 0.5, 0.5])))[
        "Guitar"
    ] == pytest.approx(0.8)
