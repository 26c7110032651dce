"""The SQLite cache: tracks, pooled statistics, the undo history and scans, with numbered
schema migrations (``cache``)."""
