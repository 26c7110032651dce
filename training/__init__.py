"""Training and evaluating genre models: datasets (``data``), recipes (``recipes``),
measurements (``evaluation``), and the ``train`` and ``evaluate`` commands (``cli``)."""
