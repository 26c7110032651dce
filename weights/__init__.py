"""The shipped models and their model card (README.md), installed as package data of
``genretag.weights``; code finds them with ``tagger.modelfile.shipped``."""
