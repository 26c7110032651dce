"""The formats genretag knows: one registry, which discovery uses and the documentation's
table is made from (``markdown_table``; ``tests`` hold docs/formats.md to it).

A format is tagged when mutagen can write its tags and ffmpeg can decode its audio, as
beets' mediafile does; the others a library may hold are listed as skipped, with the
reason, rather than passed over in silence. Files whose names say nothing are recognised
by their first bytes (``library.discover.sniff``).
"""

from __future__ import annotations

from dataclasses import dataclass

AS_MP3 = "as MP3"
ID3_SEVERAL = "one frame, values separated by NUL"
APE_TAG = "APEv2 `Genre` item at the end"
APE_SEVERAL = "one item, values separated by NUL"
VORBIS_TAG = "Vorbis comment `GENRE`"
VORBIS_SEVERAL = "one field per genre"


@dataclass(frozen=True)
class Format:
    """One format: what people call it, its file names' endings, its first bytes (the
    ``sniff`` name they announce), where its genre goes and how several are kept there;
    or, for a format genretag leaves alone, why."""

    name: str
    extensions: tuple[str, ...]
    tag: str = ""
    several: str = ""
    sniffed: str = ""  # the name ``library.discover.sniff`` gives its first bytes
    magic: tuple[bytes, ...] = ()  # first bytes that announce it (others: discover.sniff)
    skipped: str = ""  # why it is left alone (then nothing is tagged)

    @property
    def tagged(self) -> bool:
        return not self.skipped


FORMATS = (
    Format(
        "MP3",
        (".mp3",),
        "ID3v2 `TCON` (`TCO` in v2.2) at the start; the ID3v1 genre byte",
        ID3_SEVERAL,
        "mp3",
        (b"ID3",),
    ),
    Format("MP2", (".mp2",), "ID3v2 `TCON` at the start; the ID3v1 genre byte", ID3_SEVERAL),
    Format(
        "WAV",
        (".wav", ".wave"),
        "ID3 `TCON` in the `id3 ` chunk; RIFF `INFO` `IGNR`",
        f"{AS_MP3}; `IGNR` joined by `; `",
        "wav",
    ),
    Format("AIFF", (".aif", ".aiff", ".aifc"), "ID3 `TCON` in the `id3 ` chunk", AS_MP3, "aiff"),
    Format("DSF", (".dsf",), "ID3v2 `TCON` at the end", AS_MP3, "dsf", (b"DSD ",)),
    Format("TTA", (".tta",), "ID3v2 `TCON` at the start", AS_MP3, "tta", (b"TTA1",)),
    Format("FLAC", (".flac",), VORBIS_TAG, VORBIS_SEVERAL, "flac", (b"fLaC",)),
    Format(
        "Ogg Vorbis, Opus, Ogg FLAC",
        (".ogg", ".oga", ".opus"),
        VORBIS_TAG,
        VORBIS_SEVERAL,
        "ogg",
        (b"OggS",),
    ),
    Format(
        "M4A/MP4 (AAC, ALAC)",
        (".m4a", ".m4b", ".mp4"),
        "`©gen` atom (a `gnre` atom is read too)",
        "one atom, one value per genre",
        "mp4",
    ),
    Format("Monkey's Audio", (".ape",), APE_TAG, APE_SEVERAL, "ape", (b"MAC ",)),
    Format("WavPack", (".wv",), APE_TAG, APE_SEVERAL, "wavpack", (b"wvpk",)),
    Format("Musepack", (".mpc",), APE_TAG, APE_SEVERAL, "musepack", (b"MPCK", b"MP+")),
    Format("TAK", (".tak",), APE_TAG, APE_SEVERAL, "tak", (b"tBaK",)),
    Format(
        "WMA",
        (".wma",),
        "ASF `WM/Genre` in the extended content description",
        "one descriptor per genre",
        "asf",
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"),),
    ),
    Format("DSDIFF", (".dff",), skipped="DSDIFF (DFF) file: mutagen cannot write its tags"),
    Format("OptimFROG", (".ofr", ".ofs"), skipped="OptimFROG file: ffmpeg cannot decode it"),
    Format("AC3", (".ac3",), skipped="AC3 file: the format holds no tags"),
    Format("MIDI", (".mid", ".midi"), skipped="MIDI file: notes, not audio"),
)

# what discovery takes by name, and what it lists as skipped (extension -> why)
TAGGED_EXTENSIONS = frozenset(e for f in FORMATS if f.tagged for e in f.extensions)
SKIPPED_EXTENSIONS = {e: f.skipped for f in FORMATS if not f.tagged for e in f.extensions}
MAGIC = tuple((m, f.sniffed) for f in FORMATS for m in f.magic)


def _extensions(f: Format) -> str:
    return ", ".join(f"`{e}`" for e in f.extensions)


def markdown_table() -> str:
    """The formats genretag tags and those it leaves alone, as docs/formats.md shows them
    (``python -m genretag.library.formats`` prints it, and ``sentence``)."""
    rows = ["| format (extensions) | tag | several genres |", "| --- | --- | --- |"]
    rows += [
        f"| {f.name} ({_extensions(f)}) | {f.tag} | {f.several} |" for f in FORMATS if f.tagged
    ]
    rows += ["", "| left alone, listed as skipped (extensions) | why |", "| --- | --- |"]
    rows += [
        f"| {f.name} ({_extensions(f)}) | {f.skipped.split(': ', 1)[1]} |"
        for f in FORMATS
        if not f.tagged
    ]
    return "\n".join(rows)


def sentence() -> str:
    """The formats in one sentence, as the README and docs/usage.md give them."""

    def listed(tagged: bool) -> str:
        named = [f.name for f in FORMATS if f.tagged == tagged]
        return ", ".join(named[:-1]) + " and " + named[-1]

    return f"Formats tagged: {listed(True)}. Listed as skipped, with the reason: {listed(False)}."


if __name__ == "__main__":
    print(markdown_table(), sentence(), sep="\n\n")
