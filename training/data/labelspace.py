"""How the datasets' label systems meet in one vocabulary, and what each clip teaches.

GTZAN names ten exclusive genres, Emotify four, and AllMusic (the MER set) several broad
genres per clip, given per artist or album. They overlap without matching: AllMusic's
Pop/Rock holds GTZAN's pop, rock and metal; its Rap is Hip-Hop; its R&B overlaps Disco. So
each label of the one vocabulary is learnt as an independent yes/no, from the clips whose
dataset can say yes or no, and masked elsewhere:

- a source label (``pop``, ``Pop/Rock``) **is** some labels of the vocabulary (its positives)
  and **may be** others (``Pop/Rock`` may be Pop, Rock or Metal; GTZAN's ``pop`` may be
  Electronic or R&B). Those are unknown for the clip, neither taught yes nor no;
- every other label of the vocabulary is a no for the clip: a GTZAN classical clip is not
  Electronic, an AllMusic Jazz clip is not Rock. This is what teaches each label the rest of
  the world, so that it does not fire on music unlike its own;
- a source label this table does not know is a label of its own, with no other overlaps
  (a folder per genre of a user's own dataset), and a rare AllMusic label it does not carry
  over (Holiday, Religious...) may be anything: it teaches no negatives.

Measured against a hierarchy and against GTZAN's softmax kept apart: see the model card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the vocabulary: label -> the name a scan writes
NAMES = {
    "blues": "Blues",
    "classical": "Classical",
    "country": "Country",
    "disco": "Disco",
    "hiphop": "Hip-Hop",
    "jazz": "Jazz",
    "metal": "Metal",
    "pop": "Pop",
    "reggae": "Reggae",
    "rock": "Rock",
    "electronic": "Electronic",
    "rnb": "R&B",
    "latin": "Latin",
    "folk": "Folk",
    "newage": "New Age",
    "world": "World",
    "vocal": "Vocal",
    "soundtrack": "Soundtrack",
    "poprock": "Pop/Rock",
}
GTZAN = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
# the hierarchy: AllMusic's Pop/Rock holds Pop, Rock and Metal
PARENTS = {"pop": ("poprock",), "rock": ("poprock",), "metal": ("poprock",)}
# labels learnt only to carry a dataset's umbrella genre: never validated, so a scan writes
# them only when asked (``--labels all``); a library says Rock or Pop, not Pop/Rock
UMBRELLAS = frozenset({"poprock"})


@dataclass(frozen=True)
class Source:
    """What one label of a dataset says: the vocabulary's labels it is, and those it may be."""

    is_: tuple[str, ...]
    may_be: tuple[str, ...] = ()


ANYTHING = Source((), tuple(NAMES))
# source labels, case-folded; one table serves GTZAN, Emotify and AllMusic, whose shared
# names (jazz, blues, electronic...) mean the same
SOURCES: dict[str, Source] = {
    "blues": Source(("blues",), ("rnb",)),
    "classical": Source(("classical",), ("soundtrack", "newage")),
    "country": Source(("country",), ("folk",)),
    "disco": Source(("disco",), ("rnb", "electronic", "pop", "poprock")),
    "hiphop": Source(("hiphop",), ("rnb", "electronic")),
    "jazz": Source(("jazz",), ("vocal", "blues")),
    "metal": Source(("metal", "poprock"), ("rock",)),
    "pop": Source(("pop", "poprock"), ("electronic", "rnb", "disco", "rock", "vocal", "folk")),
    "reggae": Source(("reggae",), ("world",)),
    "rock": Source(("rock", "poprock"), ("metal", "pop", "folk")),
    "electronic": Source(("electronic",), ("newage", "disco", "pop", "poprock", "hiphop")),
    # AllMusic's own
    "pop/rock": Source(("poprock",), ("pop", "rock", "metal", "disco", "folk")),
    "rap": Source(("hiphop",), ("rnb", "electronic")),
    "r&b": Source(("rnb",), ("disco", "hiphop", "pop", "poprock", "blues")),
    "international": Source(("world",), ("latin", "reggae", "folk")),
    "latin": Source(("latin",), ("world", "pop", "poprock", "jazz")),
    "folk": Source(("folk",), ("country", "world", "poprock", "rock", "pop")),
    "new age": Source(("newage",), ("electronic", "classical", "world", "soundtrack")),
    "vocal": Source(("vocal",), ("jazz", "pop", "poprock")),
    "stage & screen": Source(("soundtrack",), ("classical", "pop", "poprock", "vocal")),
    "avant-garde": ANYTHING,
    "comedy/spoken": ANYTHING,
    "easy listening": ANYTHING,
    "holiday": ANYTHING,
    "religious": ANYTHING,
    "children's": ANYTHING,
}


def source(label: str) -> Source:
    """The table's entry for a dataset's label; an unknown one is a label of its own."""
    return SOURCES.get(label.casefold(), Source((label.casefold(),)))


def vocabulary(clip_genres: list[tuple[str, ...]]) -> list[str]:
    """The labels these clips can teach, in the vocabulary's order, then any of their own."""
    own = [g for gs in clip_genres for s in map(source, gs) for g in s.is_]
    return [lab for lab in NAMES if lab in own] + sorted(set(own) - set(NAMES))


def targets(clip_genres: list[tuple[str, ...]], labels: list[str]) -> np.ndarray:
    """Each clip's genres (as its dataset gives them) -> (clips, labels): 1 for yes, 0 for
    no, NaN where its dataset cannot tell (see the module docstring)."""
    out = np.zeros((len(clip_genres), len(labels)))
    column = {lab: j for j, lab in enumerate(labels)}
    for i, genres in enumerate(clip_genres):
        for s in map(source, genres):
            for lab in s.may_be:
                if lab in column:
                    out[i, column[lab]] = np.nan
        for s in map(source, genres):
            for lab in s.is_:
                if lab in column:
                    out[i, column[lab]] = 1.0
    return out


def is_right(label: str, genres: tuple[str, ...]) -> bool:
    """Whether writing ``label`` is right for a clip with these genres: one of them is it,
    or holds it (Rock is right for AllMusic's Pop/Rock; Pop/Rock for GTZAN's rock)."""
    for s in map(source, genres):
        if label in s.is_:
            return True
        # a sub-genre of an umbrella label (AllMusic's Pop/Rock), which says no more
        if s.is_ and set(s.is_) <= set(PARENTS.get(label, ())) and label in s.may_be:
            return True
    return False
