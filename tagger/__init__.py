"""genretag: offline batch genre tagger."""
