"""From a prediction to a verdict: the genre rule (``genres``), albums (``albums``), the
fill/merge/overwrite policy (``policy``) and the ``decider`` that writes."""
