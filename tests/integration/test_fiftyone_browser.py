"""End to end: ``svmlp view`` serves the FiftyOne App, and a real headless Chromium shows the data.

The network is closed: the App's page asks fonts.googleapis.com for two web fonts (Palanquin,
Roboto Mono); those requests fail and the page falls back to local fonts. Nothing else it needs
comes from outside 127.0.0.1, which this test checks. The screenshot is saved in
``test-artifacts/fiftyone-app.png`` (or ``$SVMLP_TEST_ARTIFACTS``) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from test_fiftyone import start_view, stop_view  # noqa: E402 - the same process helpers

# the tests of the shared FiftyOne database run in one process after the others (make test): a
# second pytest-xdist worker starting or cleaning the same mongod broke them now and then
pytestmark = [pytest.mark.timeout(400), pytest.mark.fiftyone]

ARTIFACTS = Path(
    os.environ.get("SVMLP_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
# the flags a closed network needs: without them Chromium keeps dialling Google's services
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (make test installs it where it can)")
    return exe


def test_the_app_shows_samples_and_classes(fiftyone_db, sample_dir, tmp_path):
    chromium = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    report = tmp_path / "report.json"
    audit = subprocess.run(
        [sys.executable, "-m", "svmlp", "audit", str(sample_dir), "--json-out", str(report), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert audit.returncode in (0, 1) and report.is_file(), audit.stderr
    import json

    checks = {i["check"] for i in json.loads(report.read_text())["issues"] if i["image_id"] is not None}
    assert checks, "the sample release has seeded label noise; the audit should find some"

    name = f"svmlp-test-browser-{os.getpid()}"
    proc, url, _ = start_view(sample_dir, "--name", name, "--audit", str(report))
    outside: list[str] = []
    try:
        with sync_api.sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
            browser = pw.chromium.launch_persistent_context(
                profile,
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 900},
            )
            page = browser.new_page()
            page.on(
                "request",
                lambda r: (
                    outside.append(r.url)
                    if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                    else None
                ),
            )
            page.goto(url)
            # the grid's header counts the samples once the first page of them has loaded
            page.get_by_text("120 samples", exact=True).wait_for(timeout=120_000)
            dismiss = page.get_by_text("Dismiss", exact=True)
            if dismiss.count():
                dismiss.first.click()  # FiftyOne's advertisement covers part of the grid
            # the label classes: the ground_truth filter's label box lists them
            page.locator("[data-cy=sidebar-field-arrow-enabled-ground_truth]").click()
            box = page.locator("input[placeholder='+ filter by label']")
            box.scroll_into_view_if_needed()
            box.click()
            for cls in ("plate", "vehicle"):
                page.get_by_text(cls, exact=True).first.wait_for(timeout=60_000)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "fiftyone-app.png"))  # the grid, the classes listed
            box.press("Escape")
            # the audit's messages are a filterable attribute of the boxes
            page.get_by_text("audit", exact=True).first.wait_for(timeout=60_000)
            # the grid drew images: canvases or img elements are on the page
            assert page.locator("canvas, img").count() > 0
            browser.close()
    finally:
        code, out = stop_view(proc)
    assert code == 0, out
    assert (ARTIFACTS / "fiftyone-app.png").stat().st_size > 10_000
    assert all("fonts.googleapis.com" in u or "fonts.gstatic.com" in u for u in outside), outside
