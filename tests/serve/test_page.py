"""The web page end to end in headless Chromium: upload the bundled portrait, see its label and bars.

Needs Debian's ``chromium`` and the ``playwright`` package (never its browser download);
skipped cleanly without them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs the chromium package")


def test_upload_shows_faces_and_bars(server, tmp_path):
    from ferkit import EMOTIONS, sample_image_path

    shots = Path(os.environ.get("FERKIT_SCREENSHOTS", tmp_path))
    offsite = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            # the page must work offline: any request leaving this server is recorded and refused
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server)
                       else (offsite.append(route.request.url), route.abort()))
            page.goto(server)
            page.wait_for_function("document.querySelector('#model').textContent.startsWith('model tiny')")
            page.set_input_files("#file", str(sample_image_path()))
            label = page.locator(".face .label").first
            label.wait_for(timeout=20_000)
            assert label.text_content().split()[0] in EMOTIONS
            assert page.locator(".face .bar").count() == len(EMOTIONS)
            assert "1 face in" in page.locator("#status").text_content()
            assert page.evaluate("document.querySelector('#canvas').width") == 512
            page.screenshot(path=str(shots / "serve_page.png"), full_page=True)

            page.set_input_files("#file", files=[{"name": "notes.jpg", "mimeType": "image/jpeg",
                                                  "buffer": b"not an image"}])
            page.wait_for_selector("#status.error")
            assert "notes.jpg: not an image" in page.locator("#status").text_content()
        finally:
            browser.close()
    assert offsite == []
    assert (shots / "serve_page.png").stat().st_size > 10_000
