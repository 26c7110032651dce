"""Settings: every setting once, the command line's options and the beets plugin's keys
derived from it, and a config file under the same names (a flag over the file over the
default, ``genretag config`` saying which)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from genretag.settings import (
    HEARS,
    LEARN,
    SCAN,
    ConfigError,
    Settings,
    options,
    read_config,
    resolve,
)

from helpers import run


def test_the_package_exports_the_session_and_the_settings():
    import genretag
    from genretag import Session
    from genretag import Settings as Exported

    assert Exported is Settings and Session.__module__ == "genretag.api"
    assert set(genretag.__all__) == {"ConfigError", "Session", "Settings"}


@pytest.mark.parametrize("command", ["scan", "predict", "undo", "report", "learn", "config"])
def test_each_command_offers_the_settings_it_takes_with_their_defaults(command):
    text = " ".join(run(command, "--help").output.split())
    taken = options(None if command == "config" else command)
    assert taken, command
    for name, default, option in taken:
        flag = option.flags[0].split("/")[0]
        assert flag in text, (command, name)
        if default not in (None, True, False):
            shown = default.value if hasattr(default, "value") else default
            assert f"[default: {shown}]" in text, (command, name)


def test_a_setting_is_checked_when_made_whatever_it_came_from():
    with pytest.raises(ConfigError, match="top_k must be a whole number of at least 1, not 0"):
        Settings(top_k=0)
    with pytest.raises(ConfigError, match="policy 'replace': choose from fill, overwrite, merge"):
        Settings(policy="replace")
    with pytest.raises(ConfigError, match="parents must be true or false, not 'yes'"):
        Settings(parents="yes")
    assert Settings(policy="merge").policy.value == "merge"  # an enum, not a string


def test_a_flag_wins_over_the_file_which_wins_over_the_default(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('min_confidence = 0.4\npolicy = "merge"\ngenre_map = "genres.toml"\n')
    monkeypatch.setenv("GENRETAG_CONFIG", str(config))
    settings, sources = resolve({"policy": "overwrite", "top_k": None})
    assert (settings.min_confidence, sources["min_confidence"]) == (0.4, "file")
    assert (settings.policy.value, sources["policy"]) == ("overwrite", "flag")
    assert (settings.top_k, sources["top_k"]) == (1, "default")
    assert settings.genre_map == tmp_path / "genres.toml"  # beside the file, not the cwd
    r = run("config", "--top-k", "2")
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in r.output.splitlines()]
    rows = {c[0]: c[1:] for c in cells if len(c) == 3}
    assert rows["top_k"] == ["2", "flag"] and rows["policy"] == ['"merge"', "file"]
    assert str(config) in r.output


@pytest.mark.parametrize(
    "text, said",
    [
        ("min_confidenc = 0.4\n", "unknown setting 'min_confidenc'"),
        ("min_confidence = 4\n", "min_confidence must be a number from 0 to 1, not 4"),
        ("min_confidence = \n", "not a TOML file"),
        ('coverage = "most"\n', "coverage 'most': choose from auto, full, fast"),
    ],
)
def test_a_bad_config_file_is_one_line_that_names_it(tmp_path, monkeypatch, text, said):
    config = tmp_path / "config.toml"
    config.write_text(text)
    monkeypatch.setenv("GENRETAG_CONFIG", str(config))
    with pytest.raises(ConfigError, match=said):
        resolve({})
    r = run("scan", tmp_path, "--dry-run")
    assert r.exit_code == 2 and str(config) in r.output and said.split("'")[0] in r.output


def test_no_config_file_is_every_default():
    assert read_config() == {}  # the tests' GENRETAG_CONFIG is an empty file
    settings, sources = resolve({})
    assert settings == Settings() and set(sources.values()) == {"default"}


def test_every_setting_has_one_default_and_names_its_commands():
    for f in fields(Settings):
        option = f.metadata["option"]
        assert option.commands and option.flags and option.help, f.name
    assert {SCAN, LEARN} <= HEARS


def test_the_beets_plugin_reads_every_setting_of_scan_but_what_beets_decides():
    pytest.importorskip("beets")
    from beetsplug.genretag import LEFT_TO_BEETS, settings_keys

    assert set(settings_keys()) == {n for n, _, _ in options(SCAN)} - set(LEFT_TO_BEETS)
    assert {"runtime", "engine", "genre_map", "model", "db"} <= set(settings_keys())
