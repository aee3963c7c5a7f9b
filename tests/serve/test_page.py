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


def test_a_late_answer_does_not_replace_a_newer_one_and_a_failed_card_breaks_nothing(server, tmp_path):
    import cv2
    import numpy as np

    from ferkit import EMOTIONS, sample_image_path

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    # The first photo's answer is held back 1.5 s in the page, so the second photo's answer comes first.
    delay_first = """
        let answered = 0;
        const fetch_ = window.fetch;
        window.fetch = async (...args) => {
          const r = await fetch_(...args);
          if (String(args[0]).startsWith('/v1/predict') && answered++ === 0)
            await new Promise((done) => setTimeout(done, 1500));
          return r;
        };"""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.add_init_script(delay_first)
            page.route("**/v1/model", lambda route: route.fulfill(status=500, json={"error": "boom"}))
            page.goto(server)
            page.wait_for_function("document.querySelector('#model').textContent === 'model card unavailable'")
            page.set_input_files("#file", str(sample_image_path()))
            page.set_input_files("#file", str(blank))
            page.wait_for_function("document.querySelector('#status').textContent.startsWith('no face')")
            page.wait_for_timeout(2500)  # the portrait's answer has arrived by now, and was dropped
            assert page.locator("#status").text_content() == "no face found in this image"
            assert page.evaluate("document.querySelector('#canvas').width") == 160

            page.set_input_files("#file", str(sample_image_path()))  # without the card's colours, still drawn
            page.locator(".face .label").first.wait_for(timeout=20_000)
            assert page.locator(".face .label").first.text_content().split()[0] in EMOTIONS
        finally:
            browser.close()
