"""genretag as a library: one object, :class:`Session`, that every front end goes through.

    from genretag import Session, Settings

    with Session(Settings(dry_run=True, top_k=2)) as session:
        result = session.scan(["/music/Some Album"])
    for row in result.rows:
        print(row.path, row.status, row.genres)

:class:`Settings` (``settings.py``) are validated once, when made; a :class:`Session`
opens the model file (its weights only when a track must be heard), the vocabulary and the
cache, and
refuses what cannot work (a backbone as the model, an unknown label set, a bad map, a
cache in a missing folder) with a :class:`ConfigError` of one line, before any file is
touched. The command line and the beets plugin are adapters: they parse, call and render.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genretag.settings import ALL_LABELS, VALIDATED, ConfigError, Settings
from genretag.states import CoverageMode, Device, Engine, Runtime

if TYPE_CHECKING:
    from genretag.deciding.decider import ScanOptions
    from genretag.deciding.genres import Vocabulary
    from genretag.learn import Learned
    from genretag.models.loader import LazyModel
    from genretag.scan import ScanResult
    from genretag.store.cache import Cache, Decision, ScanRun
    from genretag.undo import UndoRow


@dataclass
class TrackProbabilities:
    """``Session.predict``'s answer for one file: the probabilities per label (the model's
    order), each window's start and probabilities, and the coverage heard."""

    path: Path
    labels: list[str]  # as shown (display names)
    probabilities: list[float]
    coverage: CoverageMode
    window_starts: list[float] = field(default_factory=list)
    window_probabilities: list[list[float]] = field(default_factory=list)
    window_seconds: float = 0.0


class Session:
    """A model, a vocabulary and a cache, ready to scan, predict and undo."""

    def __init__(self, settings: Settings | None = None, cache: Cache | None = None):
        from genretag.models.file import ModelFileError

        self.settings = config = settings or Settings()
        if config.engine == Engine.RAY:
            from genretag.hearing.rayengine import missing

            why = missing()
            if why:
                raise ConfigError(why)
        try:
            self.model = open_model_file(config.model, config.device, runtime=config.runtime)
        except ModelFileError as e:
            raise ConfigError(str(e)) from None
        self.vocab = vocabulary(self.model, config.labels, config.genre_map)
        self._cache, self._own_cache = cache, cache is None

    # -- what it holds ---------------------------------------------------------------------

    @property
    def cache(self) -> Cache:
        """The cache, opened on first use (``CacheError`` when it cannot be)."""
        if self._cache is None:
            from genretag.store.cache import Cache, default_db_path

            self._cache = Cache(self.settings.db or default_db_path())
        return self._cache

    def close(self) -> None:
        if self._cache is not None and self._own_cache:
            cache, self._cache = self._cache, None
            cache.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what it does ----------------------------------------------------------------------

    def scan(
        self,
        paths: Sequence[Path | str],
        on_progress: Callable[[], None] | None = None,
        on_found: Callable[[int], None] | None = None,
        album_keys: dict[str, object] | None = None,
        skip_hard_links: bool = True,
    ) -> ScanResult:
        """Classify every track under ``paths`` and (unless a dry run) write their genres.
        ``album_keys``: albums as another program knows them (beets), by resolved path."""
        from genretag.scan import Scanner

        options = self.options(album_keys=album_keys, skip_hard_links=skip_hard_links)
        scanner = Scanner(self.model, self.cache, options, on_progress=on_progress)
        return scanner.run([Path(p) for p in paths], on_found=on_found)

    def options(self, **extra) -> ScanOptions:
        """The scanner's options: these settings, this session's vocabulary, and
        ``extra`` (``album_keys``, ``skip_hard_links``)."""
        from genretag.deciding.decider import ScanOptions

        return ScanOptions(self.settings, self.vocab, **extra)

    def predict(self, path: Path | str) -> TrackProbabilities:
        """One file's probabilities, heard with this configuration's coverage, and each
        window's own."""
        from genretag.hearing.local import Predictor
        from genretag.hearing.windows import Coverage
        from genretag.library.decode import DecodeError, Silent

        path = Path(path)
        if path.is_dir():
            raise ConfigError(
                f"{path}: a folder; predict takes one audio file (genretag "
                "scan --dry-run shows a folder's verdicts)"
            )
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
        model = self.model.load()
        used = Coverage(self.settings.coverage, self.settings.windows).resolved(model.device_type)
        (res,) = Predictor(model, used, keep_windows=True, workers=1).predict([path])
        if res.error:
            raise (Silent if res.silent else DecodeError)(res.error, res.detail)
        assert res.probabilities is not None and res.window_outputs is not None  # kept
        assert res.window_starts is not None
        names = self.model.metadata.display_names
        return TrackProbabilities(
            path,
            [names.get(lab, lab) for lab in model.labels],
            [float(p) for p in res.probabilities],
            used.mode,
            [float(s) for s in res.window_starts],
            model.window_probabilities(res.window_outputs).tolist(),
            model.params.window_seconds,
        )

    def undo(
        self,
        paths: Sequence[Path | str] | None = None,
        last: bool = False,
        force: bool = False,
        scan: ScanRun | None = None,
    ) -> list[UndoRow]:
        """Put back what genretag replaced: in the files under ``paths`` (every file
        genretag wrote when None); with ``last``, only what the most recent scan that still
        has writes to undo there wrote (``scan``, where ``last_scan`` already found it)."""
        from genretag.undo import undo

        named = self._known(paths)
        run = (scan or self.cache.last_run(map(str, named) if named else None)) if last else None
        if last and run is None:
            return []
        return undo(
            self.cache,
            named,
            dry_run=self.settings.dry_run,
            force=force,
            run=run.id if run else None,
        )

    def learn(
        self,
        paths: Sequence[Path | str],
        on_heard: Callable[[int], None] | None = None,
        on_hearing: Callable[[int], None] | None = None,
    ) -> Learned:
        """A library's own genres, learnt from its tagged tracks under ``paths`` on this
        session's model (its backbone hears; see ``learn``); ``Learned.save`` writes the
        model file. A ``LearnError`` says in one line why nothing could be learnt."""
        from genretag.learn import learn_library

        return learn_library(
            [Path(p) for p in paths],
            self.settings,
            self.model.load(),
            self.model.path,
            self.cache,
            on_heard=on_heard,
            on_hearing=on_hearing,
        )

    def decisions(self) -> dict[str, Decision]:
        """The decisions made in ``genretag review``, by path."""
        self.cache.flush()
        return self.cache.decisions()

    def decide(self, decisions: list[Decision]) -> None:
        """Store decisions (the owner's genres for files; see ``store.cache.Decision``),
        all at once or none; a later scan writes exactly them."""
        self.cache.decide(decisions)

    def forget_decisions(self, paths: Sequence[Path | str]) -> None:
        """Take back the decisions about ``paths``: scans propose for them again."""
        self.cache.forget_decisions([str(p) for p in paths])

    def last_scan(self, paths: Sequence[Path | str] | None = None) -> ScanRun | None:
        """The scan ``undo(paths, last=True)`` would reverse, or None."""
        named = self._known(paths)
        return self.cache.last_run(map(str, named) if named else None)

    def _known(self, paths: Sequence[Path | str] | None) -> list[Path] | None:
        named = [Path(p) for p in paths] if paths else None
        unknown = [p for p in named or [] if not self.cache.knows(str(p))]
        if unknown:
            raise ConfigError(
                f"{unknown[0]}: genretag has no record of this path in {self.cache.path}"
            )
        return named


def open_model_file(
    path: Path | None,
    device: Device | str = Device.AUTO,
    genre_model: bool = True,
    runtime: Runtime | str = Runtime.AUTO,
) -> LazyModel:
    """A model file's metadata now, its weights on ``load()``; a ``ConfigError`` for a
    device that is not there, a ``ModelFileError`` for an unusable file, and (with
    ``genre_model``) a ``ConfigError`` for a pretrained backbone, whose tags are not
    genres to write."""
    from genretag.models.file import default_model_path
    from genretag.models.loader import LazyModel, RuntimeUnavailable

    device = Device(device)
    if device == Device.CUDA:
        from genretag.models.loader import TORCH_EXTRA, torch_missing

        if torch_missing():
            raise ConfigError(f"--device cuda needs PyTorch: {TORCH_EXTRA}")
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA GPU is available (use --device auto or cpu)")
    path = Path(path) if path else default_model_path()
    try:
        lazy = LazyModel(path, device.value, Runtime(runtime).value)
    except RuntimeUnavailable as e:
        raise ConfigError(str(e)) from None
    if genre_model and not lazy.metadata.is_genre_model:
        raise ConfigError(
            f"{path}: a pretrained backbone, not a genre model (leave out "
            "--model for the shipped one, or make one with genretag train)"
        )
    return lazy


def vocabulary(
    model: LazyModel, labels: str = VALIDATED, genre_map: Path | dict[str, str] | None = None
) -> Vocabulary:
    """The names a scan writes: the model's, limited to a label set it names, renamed by
    a map (a TOML file, or label -> name)."""
    from genretag.deciding.genres import MapError, Vocabulary

    vocab = Vocabulary.of_model(model.metadata)
    sets = model.metadata.label_sets
    if labels == VALIDATED and VALIDATED not in sets:
        labels = ALL_LABELS  # a model that names no validated set (a learnt one) writes all
    if labels != ALL_LABELS:
        if labels not in sets:
            names = dict.fromkeys([VALIDATED, ALL_LABELS, *sets])
            raise ConfigError(f"--labels {labels}: this model names the sets {', '.join(names)}")
        vocab = vocab.only(list(sets[labels]))
    try:
        if isinstance(genre_map, dict):
            vocab = vocab.with_names(genre_map, "genre map")
        elif genre_map:
            vocab = vocab.with_map(Path(genre_map))
    except MapError as e:
        raise ConfigError(str(e)) from None
    return vocab
