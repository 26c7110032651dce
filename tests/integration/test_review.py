"""``genretag review`` from outside, as a person and an attacker meet it: a real server
process on 127.0.0.1, plain HTTP for the contract, the security checks and the faults, and
Debian's chromium driven by Playwright for the page itself (slow tier).

The library is the albums library of ``test_albums`` (heard once, predictions seeded), with
one more track whose tags hold markup.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from genretag import tags

from helpers import (
    file_hash,
    fresh_copy,
    hear_once,
    make_track,
    run,
    sigint_as_a_terminal_sends_it,
    snapshot,
)
from test_albums import LIBRARY

EVIL = "Evil/markup.mp3"
MARKUP = '<script>document.title="owned"</script><img src=x onerror=alert(1)>'
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)")


@pytest.fixture(scope="module")
def _heard(tmp_path_factory, tiny_model) -> tuple[Path, Path, Path]:
    def make(master: Path) -> None:
        for i, (rel, (album, aa, artist, genre, _)) in enumerate(LIBRARY.items()):
            make_track(master / rel, album, aa, artist, genre, seed=i)
        make_track(master / EVIL, MARKUP, "", MARKUP, None, seed=99)

    seeded = {rel: v[-1] for rel, v in LIBRARY.items()} | {EVIL: (0.1, 0.2, 0.7)}
    return hear_once(tmp_path_factory.mktemp("review"), make, tiny_model, seeded)


@pytest.fixture
def lib(_heard, tmp_path) -> tuple[Path, Path]:
    return fresh_copy(_heard, tmp_path)


@dataclass
class Server:
    """A running ``genretag review``: its process, port and token, and a way to ask it."""

    proc: subprocess.Popen
    port: int
    token: str
    output: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def ask(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        cookie: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.port}"}
        if cookie:
            sent["Cookie"] = f"genretag_review={self.token}"
        sent.update(headers or {})
        conn.request(method, path, body=body, headers=sent)
        answer = conn.getresponse()
        out = answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        conn.close()
        return out

    def page(self, query: str = "") -> str:
        status, _, body = self.ask("GET", "/" + query)
        assert status == 200, body[:300]
        return body.decode()

    def csrf(self) -> str:
        found = re.search(r'<meta name="csrf" content="([^"]+)"', self.page())
        assert found
        return found[1]

    def tracks(self, query: str = "") -> dict[str, dict]:
        status, _, body = self.ask("GET", "/api/tracks" + query)
        assert status == 200, body
        return {t["path"]: t for t in json.loads(body)["tracks"]}

    def decide(self, body: dict, headers: dict[str, str] | None = None, **kw):
        sent = {
            "Content-Type": "application/json",
            "X-CSRF-Token": self.csrf(),
            "Origin": f"http://127.0.0.1:{self.port}",
        }
        sent.update(headers or {})
        status, _, answer = self.ask("POST", "/api/decide", json.dumps(body).encode(), sent, **kw)
        return status, json.loads(answer) if answer.startswith(b"{") else answer

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=15)


def start(root: Path, db: Path, model: Path, *extra: str) -> Server:
    env = {**os.environ, "GENRETAG_CONFIG": os.devnull}
    proc = subprocess.Popen(
        [sys.executable, "-m", "genretag", "review", str(root), "--db", str(db), "--model",
         str(model), "--min-confidence", "0.3", "--workers", "1", "--no-browser", "--port",
         "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=sigint_as_a_terminal_sends_it,
    )  # fmt: skip
    output: list[str] = []
    found: list[re.Match] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            m = URL.search(line)
            if m and not found:
                found.append(m)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 120
    while not found and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not found:
        proc.kill()
        raise AssertionError("no address printed:\n" + "".join(output))
    return Server(proc, int(found[0][1]), found[0][2], output)


@pytest.fixture
def server(lib, tiny_model):
    root, db = lib
    s = start(root, db, tiny_model)
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def ids(server: Server) -> dict[str, int]:
    return {path: t["id"] for path, t in server.tracks().items()}


def stored(db: Path) -> dict[str, tuple[str, list[str]]]:
    with sqlite3.connect(db) as con:
        return {
            p: (a, json.loads(g))
            for p, a, g in con.execute("select path, action, genres from decisions")
        }


# -- the contract -----------------------------------------------------------------------


def test_the_printed_address_opens_a_page_listing_the_tracks_and_sigint_stops_it(server):
    status, headers, body = server.ask("GET", f"/?token={server.token}", cookie=False)
    assert status == 200
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "Artist/Album A/01.mp3" in body.decode()
    listed = server.tracks()
    assert len(listed) == len(LIBRARY) + 1
    assert listed["Other/conflict.mp3"]["status"] == "conflict"
    assert listed["Artist/Album B/03.mp3"]["status"] == "outlier"
    t0 = time.monotonic()
    assert server.stop() in (0, 130)
    assert time.monotonic() - t0 < 5


def test_filters_and_the_queue_are_answered_by_the_server(server):
    assert set(server.tracks("?status=conflict")) == {"Other/conflict.mp3"}
    assert set(server.tracks("?artist=someone")) == {
        "Other/conflict.mp3",
        "Other/agrees.mp3",
        "Other/flat.mp3",
    }
    assert set(server.tracks("?q=hits")) == {f"Various/Hits/0{i}.mp3" for i in (1, 2, 3)}
    queue = list(server.tracks("?queue=1"))
    assert queue and set(queue) <= {"Other/conflict.mp3", "Other/flat.mp3", "Artist/Album B/03.mp3"}
    html = server.page("?queue=1")
    assert html.index("conflict.mp3") < html.index("Album B/03.mp3")  # conflicts first
    assert server.ask("GET", "/?status=nonsense")[0] == 400


def test_the_audio_is_served_by_id_with_ranges(server, lib):
    root, _ = lib
    track = ids(server)["Artist/Album A/01.mp3"]
    status, headers, body = server.ask("GET", f"/audio/{track}", headers={"Range": "bytes=0-99"})
    assert status == 206 and headers["content-type"] == "audio/mpeg"
    assert body == (root / "Artist/Album A/01.mp3").read_bytes()[:100]
    assert server.ask("GET", "/audio/999999")[0] == 404  # not a track of this review


# -- security -----------------------------------------------------------------------------


def test_no_token_a_wrong_token_or_a_foreign_host_gets_a_4xx(server):
    assert server.ask("GET", "/", cookie=False)[0] == 401
    assert server.ask("GET", "/api/tracks", cookie=False)[0] == 401
    assert server.ask("GET", "/?token=wrong", cookie=False)[0] == 401
    assert server.ask("GET", "/?token=%C3%BCn%C3%AFcode", cookie=False)[0] == 401
    assert (
        server.ask("GET", "/", headers={"Cookie": "genretag_review=wrong"}, cookie=False)[0] == 401
    )
    track = next(iter(ids(server).values()))
    assert server.ask("GET", f"/audio/{track}", cookie=False)[0] == 401
    assert server.ask("GET", "/static/review.js", cookie=False)[0] == 401
    for host in ("evil.example", "evil.example:80", f"attacker.test:{server.port}", ""):
        status, _, _ = server.ask("GET", f"/?token={server.token}", headers={"Host": host})
        assert status == 400, host


def test_a_change_without_the_csrf_token_or_from_another_site_is_refused(server, lib):
    _, db = lib
    track = ids(server)["untagged/one.mp3"]
    body = {"id": track, "action": "rejected", "scope": "track"}
    other = f"http://evil.example:{server.port}"
    for headers in (
        {"X-CSRF-Token": ""},
        {"X-CSRF-Token": "wrong"},
        {"Origin": other},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "text/plain"},
    ):
        status, _ = server.decide(body, headers)
        assert status == 403, headers
    assert server.decide(body, cookie=False)[0] == 401
    status, _, _ = server.ask(  # the token in the query admits a GET, never a change
        "POST",
        f"/api/decide?token={server.token}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "X-CSRF-Token": server.csrf()},
        cookie=False,
    )
    assert status == 401
    assert stored(db) == {}
    assert server.decide(body)[0] == 200  # the page's own request
    assert list(stored(db).values()) == [("rejected", [])]


def test_paths_in_every_parameter_reach_no_file(server):
    secret = Path("/etc/passwd").read_bytes()[:20]
    for path in (
        "/audio/../../../../etc/passwd",
        "/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/audio//etc/passwd",
        "/track/../../etc/passwd",
        "/static/../../../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static//etc/passwd",
        "/api/tracks?q=../../etc/passwd&artist=/etc/passwd",
        "/?genre=/etc/passwd&page=../../1",
        "/?status=../../etc/passwd",
        "/track/-1",
    ):
        status, _, body = server.ask("GET", path)
        assert secret not in body, path
        assert status in (200, 400, 404), (path, status)
    for bad in ("../../etc/passwd", "/etc/passwd", None, [1], {"a": 1}):
        assert server.decide({"id": bad, "action": "accepted"})[0] == 400, bad
    track = ids(server)["untagged/one.mp3"]
    for scope in ("../../etc", "/etc/passwd"):
        assert server.decide({"id": track, "action": "accepted", "scope": scope})[0] == 400


def test_a_tag_holding_markup_is_shown_as_text(server):
    html = server.page("?q=markup")
    assert "<script>document" not in html and "<img src=x" not in html
    assert "&lt;script&gt;document.title" in html
    listed = server.tracks("?q=markup")
    assert listed[EVIL]["artist"] == MARKUP  # JSON holds it as it is
    track = listed[EVIL]["id"]
    status, answer = server.decide(
        {"id": track, "action": "changed", "genres": ["<b>Bold</b>"], "scope": "track"}
    )
    assert status == 200 and "<b>Bold</b>" not in answer["html"]
    assert "&lt;b&gt;Bold&lt;/b&gt;" in answer["html"]


# -- faults -------------------------------------------------------------------------------


def test_a_file_changed_or_deleted_while_the_page_is_open_is_refused_and_shown(server, lib):
    root, db = lib
    known = ids(server)
    changed, deleted = root / "untagged/one.mp3", root / "untagged/two.mp3"
    tags.write_genres(changed, ["Polka"])
    deleted.unlink()
    for path, why in (("untagged/one.mp3", "changed on disk"), ("untagged/two.mp3", "deleted")):
        status, answer = server.decide({"id": known[path], "action": "accepted"})
        assert status == 200 and answer["decided"] == []
        assert why in answer["refused"][0]["why"]
    assert stored(db) == {}
    html = server.page("?q=untagged")
    assert "changed on disk" in html and "deleted" in html
    assert server.ask("GET", f"/audio/{known['untagged/two.mp3']}")[0] == 404


def test_two_tabs_deciding_the_same_track_do_not_overwrite_each_other_unseen(server, lib):
    _, db = lib
    track = ids(server)["untagged/one.mp3"]
    seen = {str(track): 0}  # both tabs showed it undecided
    first = server.decide({"id": track, "action": "changed", "genres": ["Folk"], "seen": seen})
    assert first[0] == 200
    second = server.decide({"id": track, "action": "rejected", "seen": seen})
    assert second[0] == 409 and second[1]["reload"]
    assert [v for v in stored(db).values()] == [("changed", ["Folk"])]
    now = server.tracks()["untagged/one.mp3"]["decided_at"]  # reloaded: it may decide again
    third = server.decide({"id": track, "action": "rejected", "seen": {str(track): now}})
    assert third[0] == 200 and [v for v in stored(db).values()] == [("rejected", [])]


def test_a_scan_running_beside_the_page_and_hearing_again(server, lib, tiny_model):
    root, db = lib
    known = ids(server)
    done: list[int] = []

    def decide_meanwhile() -> None:
        for _ in range(10):
            done.append(server.decide({"id": known["Other/flat.mp3"], "action": "rejected"})[0])

    t = threading.Thread(target=decide_meanwhile)
    t.start()
    r = run("scan", root, "--model", tiny_model, "--db", db, "--min-confidence", "0.3")
    t.join()
    assert r.exit_code == 0, r.output
    assert set(done) == {200}
    # the scan wrote Album A: the page refuses what it showed of it, until it hears again
    status, answer = server.decide({"id": known["Artist/Album A/01.mp3"], "action": "accepted"})
    assert answer["decided"] == [] and "changed on disk" in answer["refused"][0]["why"]
    sent = {"Content-Type": "application/json", "X-CSRF-Token": server.csrf()}
    assert server.ask("POST", "/api/hear", b"{}", sent)[0] == 200
    again = ids(server)
    assert again["Artist/Album A/01.mp3"] == known["Artist/Album A/01.mp3"]  # ids stay
    status, answer = server.decide({"id": again["Artist/Album A/01.mp3"], "action": "accepted"})
    assert status == 200 and answer["decided"] == [again["Artist/Album A/01.mp3"]]
    with sqlite3.connect(db) as con:
        assert con.execute("pragma integrity_check").fetchone() == ("ok",)


def test_a_server_killed_while_storing_decisions_leaves_the_cache_whole(server, lib):
    _, db = lib
    track = ids(server)["Artist/Album A/01.mp3"]  # the artist's six tracks at once
    csrf = server.csrf()
    body = json.dumps({"id": track, "action": "rejected", "scope": "artist"}).encode()
    headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                server.ask("POST", "/api/decide", body, headers)
            except OSError:
                return

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for th in threads:
        th.start()
    time.sleep(1.0)
    server.proc.kill()  # SIGKILL: no chance to finish anything
    server.proc.wait()
    stop.set()
    for th in threads:
        th.join()
    with sqlite3.connect(db) as con:
        assert con.execute("pragma integrity_check").fetchone() == ("ok",)
        rows = con.execute("select count(*), count(distinct time) from decisions").fetchone()
    # each request decides the artist's six tracks in one transaction: after the kill, the
    # six rows are all those of one request, never a mix of two
    assert rows == (6, 1), rows


def test_a_busy_port_is_an_error_of_one_line(lib, tiny_model):
    import socket

    root, db = lib
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run("review", root, "--db", db, "--model", tiny_model, "--port", port, "--no-browser")
    assert r.exit_code == 2 and f"--port {port}: cannot listen" in r.output


# -- in a real browser ----------------------------------------------------------------------


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_a_person_reviews_in_chromium_then_scan_writes_exactly_that_and_undo_restores(
    lib, tiny_model, tmp_path
):
    pytest.importorskip("playwright", reason="playwright (the test extra) is not installed")
    from playwright.sync_api import sync_playwright

    root, db = lib
    before = snapshot(root)
    server = start(root, db, tiny_model)
    shots = Path(os.environ.get("GENRETAG_SCREENSHOTS", tmp_path))
    dialogs: list[str] = []
    audio_answers: list[int] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium(),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--autoplay-policy=no-user-gesture-required"],
            )  # fmt: skip
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on(
                "response",
                lambda r: audio_answers.append(r.status) if "/audio/" in r.url else None,
            )
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url)
            page.wait_for_selector("body[data-ready='1']")
            assert "token" not in page.url  # exchanged for the cookie
            assert page.title() == "genretag review"  # the markup's script never ran
            page.screenshot(path=str(shots / "review.png"))

            # filter: conflicts only, through the form
            page.select_option("select[name=status]", "conflict")
            page.click("#filters button[type=submit]")
            page.wait_for_selector("body[data-ready='1']")
            assert page.locator("tr.track").count() == 1
            page.goto(f"http://127.0.0.1:{server.port}/")

            # listen: the evidence of a track, and a window of it played from the file
            row = page.locator('tr.track:has(td.path[title="Artist/Album A/01.mp3"])')
            row.locator("button[data-open]").click()
            page.wait_for_selector(".evidence-body rect.window")
            page.locator(".evidence-body rect.window").first.click()
            page.wait_for_function(
                "() => { const a = document.querySelector('.evidence-body audio');"
                " return a && a.readyState >= 1 && a.duration > 0; }"
            )
            assert 206 in audio_answers or 200 in audio_answers
            page.screenshot(path=str(shots / "review-evidence.png"))

            # accept an album with its button
            album_a = page.locator(
                "section.group", has=page.locator("h2", has_text=re.compile("^Album A"))
            )
            album_a.locator("button[data-act=accepted][data-scope=album]").click()
            page.wait_for_selector("#message:has-text('accepted: 3 tracks')")

            # change a track to the owner's own genre, by keyboard
            page.locator('td.path[title="untagged/one.mp3"]').click()
            page.keyboard.press("c")
            page.keyboard.type("Dub Techno")
            page.keyboard.press("Enter")
            page.wait_for_selector("#message:has-text('changed: 1 track')")
            # j moves on (the change already stepped to untagged/two.mp3), r rejects it
            focused = page.locator("tr.track.focused td.path").get_attribute("title")
            assert focused == "untagged/two.mp3"
            page.keyboard.press("r")
            page.wait_for_selector("#message:has-text('rejected: 1 track')")
            # the reject stepped on too; k goes back over it to the changed track
            page.keyboard.press("k")
            page.keyboard.press("k")
            assert page.locator("tr.track.focused td.path").get_attribute("title") == (
                "untagged/one.mp3"
            )
            assert "changed: Dub Techno" in page.locator("tr.track.focused").inner_text()
            page.screenshot(path=str(shots / "review-decided.png"))
            assert errors == [] and dialogs == []
            browser.close()
    finally:
        assert server.stop() in (0, 130)
    assert stored(db) == {
        str(root / "Artist/Album A/01.mp3"): ("accepted", ["rock"]),
        str(root / "Artist/Album A/02.mp3"): ("accepted", ["rock"]),
        str(root / "Artist/Album A/03.mp3"): ("accepted", ["rock"]),
        str(root / "untagged/one.mp3"): ("changed", ["Dub Techno"]),
        str(root / "untagged/two.mp3"): ("rejected", []),
    }
    r = run("scan", root, "--model", tiny_model, "--db", db, "--min-confidence", "0.3")
    assert r.exit_code == 0, r.output
    assert tags.display(tags.read_state(root / "untagged/one.mp3")) == ["Dub Techno"]
    assert tags.display(tags.read_state(root / "untagged/two.mp3")) == []
    for i in (1, 2, 3):
        assert tags.display(tags.read_state(root / f"Artist/Album A/0{i}.mp3")) == ["rock"]
    assert file_hash(root / "untagged/two.mp3") == before["untagged/two.mp3"]
    assert run("undo", root, "--db", db).exit_code == 0
    assert snapshot(root) == before
