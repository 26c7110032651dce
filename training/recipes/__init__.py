"""What ``genretag train`` builds: one recipe per ``--arch`` (``arches``), carried out by
``recipe.fit_model`` with the track head (``probe``), the window head (``windowhead``),
whole-network training (``netfit``), the features MLP and the raw-waveform CNN."""
