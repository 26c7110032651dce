"""genretag: offline batch genre tagger.

The library API is :class:`Session` (``api.py``), the one entry point every front end goes
through, and :class:`Settings` (``settings.py``), every setting defined once::

    from genretag import Session, Settings

Both are imported on first use, so that the command line starts light.
"""

__all__ = ["ConfigError", "Session", "Settings"]


def __getattr__(name: str):
    if name == "Session":
        from genretag.api import Session

        return Session
    if name in ("Settings", "ConfigError"):
        from genretag import settings

        return getattr(settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
