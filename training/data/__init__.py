"""Labelled data: dataset layouts and artist groups (``datasets``), window embeddings
cached on disk (``embed``), and augmentation (``augment``)."""
