"""The screenshots of `genretag review` in docs/images/, made again.

    python docs/screenshots.py

A small library of generated music (invented artists and albums: no recording is used)
is heard by the shipped model, then `genretag review` serves it and Debian's chromium,
driven by Playwright, takes three pictures: the queue (worth your time first), a track's
evidence (its genres, the windows heard, the player) with the change box open, and the
page after a few decisions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mutagen.easyid3 import EasyID3  # noqa: E402

from genretag import tags  # noqa: E402

from synth import music, write_audio  # noqa: E402

# folder -> (album, album artist, [(file, genre in the file or None)])
LIBRARY = {
    "The Low Hums/Night Ferry": (
        "Night Ferry",
        "The Low Hums",
        [("01 Harbour Lights.mp3", None), ("02 Slow Tide.mp3", None), ("03 Fog Horn.mp3", None)],
    ),
    "Marisol Vega/Canciones de Agua": (
        "Canciones de Agua",
        "Marisol Vega",
        [("01 Río.mp3", None), ("02 Lluvia.mp3", "Folk"), ("03 Mar.mp3", None)],
    ),
    "Brass Foundry/Live at the Depot": (
        "Live at the Depot",
        "Brass Foundry",
        [("01 Intro.mp3", None), ("02 Steam.mp3", None), ("03 Last Train.mp3", None)],
    ),
    "DJ Parallax/Warehouse Hours": (
        "Warehouse Hours",
        "DJ Parallax",
        [("01 Doors.mp3", "Classical"), ("02 Strobe.mp3", None), ("03 4am.mp3", None)],
    ),
    "rips": (None, None, [("track01.mp3", None), ("track02.mp3", None)]),
}


def make(root: Path) -> None:
    seed = 0
    for folder, (album, artist, files) in LIBRARY.items():
        for name, genre in files:
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            seed += 1
            write_audio(path, music(20.0, 22050, seed=seed, channels=2), 22050, "mp3")
            if album is None:
                tags.write_genres(path, [])
                continue
            t = EasyID3(path)
            t["album"], t["artist"], t["albumartist"] = album, artist, artist
            t["title"] = name[3:-4]
            t.save()
            if genre:
                tags.write_genres(path, [genre])


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "images"
    out.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="genretag-shots-"))
    root = work / "Music"
    make(root)
    db = work / "cache.sqlite"
    env = {**os.environ, "GENRETAG_CONFIG": os.devnull}
    proc = subprocess.Popen(
        [sys.executable, "-m", "genretag", "review", str(root), "--db", str(db),
         "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    url = next(m[0] for line in proc.stdout if (m := re.search(r"http://\S+token=\S+", line)))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            base = url.split("/?")[0]
            page.goto(base + "/?queue=1")
            page.wait_for_selector("body[data-ready='1']")
            page.screenshot(path=str(out / "review-queue.png"))
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready='1']")
            first = page.locator("tr.track").first
            first.locator("button[data-open]").click()
            page.wait_for_selector(".evidence-body rect.window")
            first.locator("button[data-act=changed]").click()
            page.keyboard.type("Dream Pop")
            page.screenshot(path=str(out / "review-evidence.png"))
            page.keyboard.press("Enter")
            page.wait_for_selector("#message:has-text('changed')")
            album = page.locator("section.group").nth(1)
            album.locator("button[data-act=accepted][data-scope=album]").click()
            page.wait_for_selector("#message:has-text('accepted')")
            page.locator("section.group").nth(2).locator("tr.track td.path").first.click()
            page.keyboard.press("r")
            page.wait_for_selector("#message:has-text('rejected')")
            page.screenshot(path=str(out / "review.png"))
            browser.close()
    finally:
        proc.send_signal(2)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    for png in sorted(out.glob("review*.png")):
        print(png.relative_to(ROOT), png.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
