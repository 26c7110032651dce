"""genretag: offline batch genre tagger. The library API is ``Session`` and ``ScanConfig``
(``tagger.api``), imported on first use so that the command line starts light."""

__all__ = ["ConfigError", "ScanConfig", "Session"]


def __getattr__(name: str):
    if name in __all__:
        from genretag import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
