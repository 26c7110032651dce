"""Files on disk: finding audio (``discover``), the one registry of formats (``formats``),
the safe-write protocol (``safewrite``) and decoding with ffmpeg (``decode``)."""
