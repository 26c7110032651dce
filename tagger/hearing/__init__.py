"""Hearing tracks: windows and coverage (``windows``), a track's samples a chunk at a time
(``source``), the ``Hearer`` protocol (``base``), and its two kinds, this machine's
(``local``) and a Ray cluster's (``rayengine``)."""
