"""Choosing genres from a track's probabilities, in the user's own vocabulary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genretag.hearing.prediction import Prediction
from genretag.settings import tomllib

if TYPE_CHECKING:
    from genretag.models.file import ModelMeta


CONFLICT_P = 0.05  # a genre the file holds is contradicted below this probability...
# ...when another genre is at least --min-confidence
MAX_NAME = 200  # characters of a genre name; NUL and other control characters never


class MapError(Exception):
    """A --map file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Choice:
    genres: list[str]  # empty when unsure
    confidence: float  # probability of the best genre
    unsure: bool
    probabilities: dict[str, float]  # per output name, after merging
    best: str = ""  # the first genre, or the best guess when unsure


@dataclass(frozen=True)
class Vocabulary:
    """Model labels -> the names written into files. Labels mapped to one name are merged;
    a label mapped to "" is never written.

    A model's labels are exclusive (one genre of several, their probabilities add up to
    one) or ``independent`` (a probability of its own: a track can be Rock and Indie).
    Merged exclusive labels add up; the result and any independent labels of the same name
    combine as independent events (noisy-or). ``parents`` (label -> parent labels) is the
    model's genre hierarchy, for ``with_parents``. ``thresholds`` (label -> probability):
    where a label is sure, for labels whose model says (``genretag learn`` finds each
    label's by cross-validation); the others are sure at the scan's ``min_confidence``.
    """

    names: dict[str, str]
    independent: frozenset[str] = frozenset()
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    _plans: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _families: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _parents: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _exclusive: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def default(
        cls,
        labels: list[str],
        display: dict[str, str] | None = None,
        independent: list[str] | None = None,
        parents: Mapping[str, Sequence[str]] | None = None,
        thresholds: dict[str, float] | None = None,
    ) -> Vocabulary:
        display = display or {}
        return cls(
            {lab: display.get(lab, lab) for lab in labels},
            frozenset(independent or []),
            {lab: tuple(ps) for lab, ps in (parents or {}).items()},
            dict(thresholds or {}),
        )

    @classmethod
    def of_model(cls, meta: ModelMeta) -> Vocabulary:
        """The vocabulary a model file describes (display names, independent labels, parents)."""
        return cls.default(
            list(meta.labels), meta.display_names, meta.independent, meta.parents, meta.thresholds
        )

    def sure_at(self, name: str, min_confidence: float) -> float:
        """The probability at which the written name ``name`` is sure: the lowest threshold
        of the labels written as it, else ``min_confidence``."""
        own = [t for lab, t in self.thresholds.items() if self.names.get(lab) == name]
        return min(own) if own else min_confidence

    def only(self, labels: list[str]) -> Vocabulary:
        """The same vocabulary with every label outside ``labels`` never written."""
        keep = set(labels)
        return replace(
            self, names={lab: name if lab in keep else "" for lab, name in self.names.items()}
        )

    def with_map(self, path: Path) -> Vocabulary:
        """Apply a TOML map: ``label = "Name"`` lines, at the top level or under [genres]."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise MapError(f"{path}: cannot read map file ({e.strerror or e})") from None
        except UnicodeDecodeError:
            raise MapError(f"{path}: not a text file in UTF-8") from None
        except tomllib.TOMLDecodeError as e:
            raise MapError(f"{path}: not valid TOML ({e})") from None
        table = data.get("genres", data)
        if not isinstance(table, dict):
            raise MapError(f"{path}: 'genres' must be a table of label = \"Name\" lines")
        return self.with_names(table, str(path))

    def with_names(self, table: dict, source: str = "map") -> Vocabulary:
        """Rename labels: ``{label: "Name"}`` (from a --map file, or a beets config), where a
        label is the model's own (``hiphop``) or the name shown for it (``Hip-Hop``, any
        case); ``source`` names where it came from in errors, which list every bad key."""
        names = dict(self.names)
        shown = {name.casefold(): lab for lab, name in self.names.items() if name}
        problems, unknown = [], []
        for key, name in table.items():
            label = key if key in names else shown.get(str(key).casefold())
            if label is None:
                unknown.append(repr(key))
            elif not isinstance(name, str):
                problems.append(f"the name for {key!r} must be a string")
            elif len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
                problems.append(
                    f"the name for {key!r} must be one line of at most "
                    f"{MAX_NAME} characters, without control characters"
                )
            else:
                names[label] = name.strip()
        if unknown:
            problems.insert(
                0,
                f"{', '.join(unknown)}: not "
                f"{'a label' if len(unknown) == 1 else 'labels'} of this model "
                f"(labels: {', '.join(self.names)}; or the names shown for them)",
            )
        if problems:
            raise MapError(f"{source}: {'; '.join(problems)}")
        return replace(self, names=names)

    def merge(self, prediction: Prediction) -> dict[str, float]:
        """The prediction in the written names: name -> probability. Exclusive labels of
        one name add up; that sum and the name's independent labels combine as independent
        events: p = 1 - (1 - min(1, sum)) * prod(1 - p_independent)."""
        names, exclusive, independent = self._plan(prediction.labels)
        p = np.clip(np.asarray(prediction.probabilities, dtype=float), 0.0, 1.0 - 1e-15)
        none = (1.0 - np.minimum(1.0, p @ exclusive)) * np.exp(np.log1p(-p) @ independent)
        return dict(zip(names, (1.0 - none).tolist()))

    def _plan(self, labels: tuple[str, ...]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """For a model's label order: the written names (first seen first), and which
        labels feed each name, exclusively or independently ((labels, names) each).
        Made once per label order: a re-scan merges every track of a library."""
        plan = self._plans.get(labels)
        if plan is None:
            names = list(dict.fromkeys(self.names.get(lab, lab) for lab in labels))
            names = [n for n in names if n]
            column = {n: i for i, n in enumerate(names)}
            exclusive = np.zeros((len(labels), len(names)))
            independent = np.zeros((len(labels), len(names)))
            for i, lab in enumerate(labels):
                name = self.names.get(lab, lab)
                if name:
                    if lab in self.independent:
                        independent[i, column[name]] = 1.0
                    else:
                        exclusive[i, column[name]] = 1.0
            plan = self._plans[labels] = (names, exclusive, independent)
        return plan

    def exclusive_names(self, labels: tuple[str, ...]) -> frozenset[str]:
        """The written names that an exclusive label of ``labels`` feeds (found once per
        label order: a re-scan chooses for every track of a library)."""
        found = self._exclusive.get(labels)
        if found is None:
            names, exclusive, _ = self._plan(labels)
            found = self._exclusive[labels] = frozenset(
                n for n, fed in zip(names, np.asarray(np.asarray(exclusive).any(axis=0))) if fed
            )
        return found

    def parent_names(self, name: str) -> frozenset[str]:
        """The written names of the parents of the labels written as ``name``."""
        found = self._parents.get(name)
        if found is None:
            found = self._parents[name] = frozenset(
                self.names[p]
                for lab, n in self.names.items()
                if n == name
                for p in self.parents.get(lab, ())
                if self.names.get(p)
            ) - {name}
        return found

    def family(self, genre: str) -> set[str]:
        """The written names that ``genre`` (as a file spells it, any case) covers: its
        own name and the names of its sub-genres (Metal covers Heavy Metal); empty when
        this vocabulary does not know it. Found once per spelling: a re-scan asks it for
        every genre of every file."""
        folded = genre.strip().casefold()
        if folded in self._families:
            return self._families[folded]
        own = {lab for lab, name in self.names.items() if name and name.casefold() == folded}
        covered, grew = set(own), bool(own)
        while grew:
            children = {lab for lab, ps in self.parents.items() if covered & set(ps)}
            grew = not children <= covered
            covered |= children
        found = self._families[folded] = {self.names[lab] for lab in covered if self.names.get(lab)}
        return found

    def with_parents(self, genres: list[str]) -> list[str]:
        """``genres`` (written names) followed by their ancestors' names, each once."""
        by_name: dict[str, list[str]] = {}
        for label, name in self.names.items():
            if name:
                by_name.setdefault(name, []).append(label)
        out = list(genres)
        todo = list(genres)
        while todo:
            for label in by_name.get(todo.pop(0), []):
                for parent in self.parents.get(label, ()):
                    name = self.names.get(parent, "")
                    if name and name not in out:
                        out.append(name)
                        todo.append(name)
        return out


def choose(
    prediction: Prediction,
    vocab: Vocabulary,
    top_k: int = 1,
    min_confidence: float = 0.3,
    parents: bool = False,
    among: set[str] | None = None,
) -> Choice:
    """At most ``top_k`` genres, by one rule for tracks and albums alike.

    A model's exclusive labels share one probability (they add up to one); its independent
    labels each have a probability of their own. The two are different kinds of number, so
    they are not ranked against each other for the first place:

    1. The first genre is the best exclusive one, when it reaches ``min_confidence``.
       Only when none does may an independent genre without a parent be first (an
       electronic track that none of the exclusive genres describes).
    2. Then, up to ``top_k``, the others that reach ``min_confidence``, best first. A genre
       with a parent in the model's hierarchy comes only beside that parent: Hard Rock
       beside Rock, never beside Metal; House beside Dance.
    3. With ``parents``, each chosen genre's parents follow.

    ``among``: the names the first genre may be (an album's verdict is a genre that one of
    its tracks ranks first). Below ``min_confidence`` the track is unsure and gets no
    genre; ``best`` is then its best guess.
    """
    merged = vocab.merge(prediction)
    ranked = sorted(merged.items(), key=lambda kv: -kv[1])
    exclusive = vocab.exclusive_names(prediction.labels)
    allowed = [(n, p) for n, p in ranked if among is None or n in among]
    first = [(n, p) for n, p in allowed if n in exclusive] or [
        (n, p) for n, p in allowed if not vocab.parent_names(n)
    ]
    if not first:
        return Choice([], 0.0, True, merged)
    best_name, best = first[0]

    def sure(name: str, p: float) -> bool:
        return p >= (vocab.sure_at(name, min_confidence) if vocab.thresholds else min_confidence)

    if not sure(best_name, best):
        # an independent genre may still be sure where every exclusive one is unsure
        others = [
            (n, p)
            for n, p in allowed
            if n not in exclusive and not vocab.parent_names(n) and sure(n, p)
        ]
        if not others:
            return Choice([], best, True, merged, best_name)
        best_name, best = others[0]
    genres = [best_name]
    rest = [(n, p) for n, p in ranked if n != best_name and sure(n, p)]
    while len(genres) < max(1, top_k):
        nxt = next(
            (
                n
                for n, _ in rest
                if n not in genres and _beside_parent(vocab.parent_names(n), genres)
            ),
            None,
        )
        if nxt is None:
            break
        genres.append(nxt)
    return Choice(vocab.with_parents(genres) if parents else genres, best, False, merged, best_name)


def _beside_parent(parents: frozenset[str], chosen: list[str]) -> bool:
    return not parents or bool(parents & set(chosen))


def contradicted(current: list[str], choice: Choice, vocab: Vocabulary) -> bool:
    """``current`` (genres a file holds) holds genres ``vocab`` knows, the audio gives each
    of them (and its sub-genres) less than ``CONFLICT_P``, and another genre is sure."""
    if not current or choice.unsure:
        return False
    judged = [names for names in (vocab.family(g) for g in current) if names]
    return bool(judged) and all(
        max(choice.probabilities.get(n, 0.0) for n in names) < CONFLICT_P for names in judged
    )
