"""Byte editors that change a genre and keep every other byte: ID3v2 frames (``id3``),
APEv2 items (``ape``), the RIFF INFO chunk (``riff``) and MP4 atoms (``mp4``)."""
