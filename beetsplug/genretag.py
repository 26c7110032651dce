"""genretag for beets: genres from the audio itself, offline, inside beets.

Enable it in beets' config, then run ``beet genretag [QUERY]``::

    plugins: genretag
    genretag:
        auto: no            # also tag during `beet import`
        by: album           # album: one verdict per beets album; track: each alone
        force: no           # replace existing genres (-f); by default fill empty ones only
        top_k: 1            # as `genretag scan --top-k`; and so on, every setting of
        min_confidence: 0.3 # `genretag scan` (genretag.settings.Settings), with its checks:
        labels: all         # all, or a set the model names (gtzan)
        genre_map: ''       # a TOML file (label = "Name"), or an inline mapping {jazz: Jazz}
        parents: no
        album_strict: no
        model: ''           # a genre model file; empty: genretag's shipped model
        device: auto        # auto, cpu or cuda
        runtime: auto       # auto, torch or onnx
        engine: local       # local, or ray (a Ray cluster)
        ray_address: ''
        coverage: auto      # auto, full or fast
        windows: 4
        batch_size: 0
        workers: 0
        db: ''              # genretag's cache; empty: its default, shared with `genretag scan`

A setting left out of beets' config takes its value from genretag's own config file
(``genretag config`` shows it), else genretag's default.

The plugin hears each item through genretag (its cache first: an item genretag has heard
is not decoded again), decides albums as beets knows them, and sets beets' own ``genres``
field (and ``genre``, on a beets that has that field). It stores them in beets' database,
and writes them into the files only when beets' ``write`` setting says so, through beets'
own ``Item.try_sync``: beets then applies its ``id3v23`` and other settings, and genretag
writes nothing behind beets' back. When beets has written a file's tags (this plugin's,
or any other command's), genretag's cache learns the file's new size and time, so the
changed tags do not make it hear the unchanged audio again.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from beets import ui
from beets.plugins import BeetsPlugin

# the plugin's own options; genretag's settings are read as beets' config gives them
CONFIG = {"auto": False, "force": False}
# genretag scan's settings that beets decides in its own way: its pretend and force
LEFT_TO_BEETS = ("dry_run", "policy")


def settings_keys() -> list[str]:
    """The genretag settings this plugin reads from beets' config (those of scan)."""
    from genretag.settings import SCAN, options

    return [name for name, _, _ in options(SCAN) if name not in LEFT_TO_BEETS]


class GenreTagPlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add(CONFIG)
        if self.config["auto"].get(bool):
            self.import_stages = [self.imported]
        self.register_listener("after_write", self.written)
        self.register_listener("cli_exit", self.close)
        self._local = threading.local()

    def cache(self):
        """genretag's cache, opened once per thread (beets' importer runs its stages in
        threads of their own, and an SQLite connection belongs to one thread). Every
        change is flushed at once, so a connection left to the end holds nothing."""
        if getattr(self._local, "cache", None) is None:
            from genretag.store.cache import Cache, default_db_path

            self._local.cache = Cache(self.settings().db or default_db_path())
        return self._local.cache

    def close(self, **kwargs) -> None:
        if getattr(self._local, "cache", None) is not None:
            self._local.cache.close()
            self._local.cache = None

    def written(self, item, path, **kwargs) -> None:
        """beets wrote tags into ``path``: its audio is what genretag heard, so the cache
        row (if any) takes the file's new size, time, fingerprint and genres."""
        file = Path(_path(item) if path is None else os.fsdecode(path)).resolve()
        row = self.cache().retagged(str(file), _genres(item))
        if row is None or row.probabilities is None:
            return
        self.cache().put(row)
        self.cache().flush()

    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("genretag", help="set genres from the audio (genretag)")
        cmd.parser.add_option(
            "-p",
            "--pretend",
            action="store_true",
            default=False,
            help="show the existing and proposed genres; change nothing",
        )
        cmd.parser.add_option(
            "-f",
            "--force",
            action="store_true",
            default=None,
            help="replace existing genres (default: fill empty ones only)",
        )
        cmd.parser.add_option(
            "-b",
            "--by",
            choices=("album", "folder", "track"),
            default=None,
            help="one verdict per album (default), per folder or per track",
        )
        cmd.func = self._command
        return [cmd]

    def _command(self, lib, opts, args) -> None:
        if opts.force is not None:
            self.config["force"].set(opts.force)
        if opts.by is not None:
            self.config["by"].set(opts.by)
        self.tag(list(lib.items(args)), pretend=opts.pretend, write=ui.should_write())

    def imported(self, session, task) -> None:
        """The import stage (``auto: yes``): the genres go into beets' database; beets
        writes the files afterwards as its import settings say (an autotagged import with
        ``write: yes`` does; an as-is import, ``-A``, writes no tags: ``beet write`` then
        does), as lastgenre does."""
        self.tag(list(task.imported_items()), pretend=False, write=False)

    # -- the work --------------------------------------------------------------------------

    def tag(self, items: list, pretend: bool, write: bool) -> None:
        """Hear ``items`` through genretag, then set, store and (with ``write``) write the
        genres of those whose genre is empty, or of all with ``force``. A genre that the
        audio contradicts is shown as a conflict, in the preview too, and kept without
        ``force``, as ``genretag scan`` does."""
        from genretag.deciding.genres import Choice, contradicted

        items = [i for i in items if Path(_path(i)).is_file()]
        if not items:
            return
        verdicts, vocab = self._verdicts(items)
        force = self.config["force"].get(bool)
        for item in items:
            row = verdicts.get(str(Path(_path(item)).resolve()))
            if row is None or row.status == "error":
                self._log.warning("{}: {}", item, row.error if row else "not heard")
                continue
            if not row.genres:
                self._log.info(
                    "{}: unsure (best {:.2f}), left as it is", item, row.confidence or 0.0
                )
                continue
            existing = _genres(item)
            if existing and not force:
                choice = Choice(row.genres, row.confidence or 0.0, False, row.probabilities)
                if contradicted(existing, choice, vocab):
                    ui.print_(
                        f"conflict: {item}: has {'; '.join(existing)}, the audio says "
                        f"{'; '.join(row.genres)} (kept; -f replaces it)"
                    )
                else:
                    self._log.debug("{}: has genres {}; use -f to replace them", item, existing)
                continue
            if existing == row.genres:
                continue
            _set_genres(item, row.genres)
            ui.show_model_changes(item, fields=_genre_fields(item))
            if not pretend:
                item.try_sync(write=write, move=False)

    def settings(self):
        """genretag's settings as beets' config gives them, over genretag's own config
        file and defaults; always a dry run with the overwrite policy, as the plugin
        applies beets' pretend and force itself. A bad one is a beets ``UserError``."""
        from genretag.settings import ConfigError, resolve
        from genretag.states import Policy

        c = self.config
        given = {}
        for key in settings_keys():
            if c[key].exists():
                value = c[key].get()
                given[key] = None if value == "" else value  # '' in YAML: the default
        if "genre_map" not in given and c["map"].exists():  # the key's earlier name
            given["genre_map"] = c["map"].get() or None
        try:
            settings, _ = resolve({**given, "dry_run": True, "policy": Policy.OVERWRITE})
        except ConfigError as e:
            raise ui.UserError(f"genretag: {e}") from None
        return settings

    def session(self):
        """genretag's library ``Session`` for these settings, on the plugin's cache."""
        from genretag.api import Session
        from genretag.settings import ConfigError

        settings = self.settings()
        try:
            return Session(settings, cache=self.cache())
        except ConfigError as e:
            raise ui.UserError(f"genretag: {e}") from None

    def _verdicts(self, items: list) -> tuple[dict, object]:
        """genretag's dry-run rows for the items' files, by resolved path (predictions
        from its cache or heard now, albums as beets groups them), and the vocabulary."""
        from rich.console import Console

        from genretag.render.progress import ScanProgress

        session = self.session()
        self._log.info("hearing {} item(s)", len(items))
        # a bar on a terminal; off one (a log, cron), a line every 10 s
        with ScanProgress(Console(stderr=True), label="genretag") as progress:
            result = session.scan(
                [Path(_path(i)) for i in items],
                on_progress=progress.advance,
                on_found=progress.found,
                album_keys=_albums(items),
                skip_hard_links=False,
            )
        self.cache().flush()
        return {r.path: r for r in result.rows}, session.vocab


def _albums(items: list) -> dict[str, object]:
    """beets' album of each item's file, by resolved path, for the albums whose tracks
    are decided together. Left out, so decided one by one as ``genretag scan`` does: items
    of an album without a name (an as-is import of untagged files is one nameless album),
    and compilations (the flag, "Various Artists", or tracks by many artists)."""
    from genretag.deciding.albums import is_compilation
    from genretag.tags.base import AlbumInfo

    by_album: dict[object, list] = {}
    for item in items:
        if item.album_id is not None and (item.album or "").strip():
            by_album.setdefault(item.album_id, []).append(item)
    keys = {}
    for album_id, members in by_album.items():
        infos = [
            AlbumInfo(i.album, i.albumartist or "", i.artist or "", bool(i.comp)) for i in members
        ]
        if not is_compilation(infos):
            keys.update({str(Path(_path(i)).resolve()): album_id for i in members})
    return keys


def _path(item) -> str:
    from beets.util import syspath

    return syspath(item.path)


def _genre_fields(item) -> list[str]:
    return [f for f in ("genres", "genre") if f in item._fields]


def _genres(item) -> list[str]:
    if "genres" in item._fields:
        return list(item.genres or [])
    return [g for g in (item.get("genre") or "").split(";") if g.strip()]


def _set_genres(item, genres: list[str]) -> None:
    if "genres" in item._fields:  # beets 2.x: a list
        item.genres = list(genres)
    if "genre" in item._fields:  # older beets: one text field
        item.genre = "; ".join(genres)
