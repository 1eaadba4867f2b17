"""More page states in a real headless Chromium: a dropped file, the page that waits for the
server, a wrong number typed over a guardrail, and a preview after it was applied.

Each state passes the checks of ``tests/browser_checks.py`` (axe-core WCAG A/AA, no page wider
than 390 px) through ``shot``. Skipped, loudly, where no Chromium is installed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from segsync.sandbox import FaultOptions, Sandbox
from segsync.web import create_app
from segsync.web.server import serve_in_thread
from tests.browser_checks import INSTALL, axe_path
from tests.conftest import MakeSandbox
from tests.helpers import settings_for
from tests.test_web_browser import CHANGE_ROWS, FAST_POLL, Page, shot
from tests.web_helpers import SAMPLE_SHEET, chrome, intended_state, stored_state

pytestmark = pytest.mark.browser

#: what the page's script does with a file dropped on the zone, done by hand: Selenium cannot
#: drag a file from the desktop, so the test builds the same DragEvent a browser sends
DROP = """
const [b64, name, selector] = arguments;
const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
const file = new File([bytes], name);
const data = new DataTransfer();
data.items.add(file);
const zone = document.querySelector(selector);
for (const type of ['dragenter', 'dragover', 'drop']) {
  zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
}
"""


def test_a_file_dropped_on_the_zone_is_uploaded(sandbox: Sandbox, tmp_path: Path) -> None:
    app = create_app(settings_for(sandbox, tmp_path), FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.sign_in(app)
        page.open("/")
        sheet = base64.b64encode(SAMPLE_SHEET.read_bytes()).decode("ascii")
        driver.execute_script(DROP, sheet, SAMPLE_SHEET.name, '[data-testid="dropzone"]')
        said = page.find("dropped-file").text
        assert f"Chosen: {SAMPLE_SHEET.name}" in said
        chosen = driver.execute_script(
            "return document.querySelector('[data-testid=edits-file]').files[0].name"
        )
        assert chosen == SAMPLE_SHEET.name
        shot(driver, "1c-upload-dropped")
        page.click("upload")
        page.find("preview-summary")
        assert len(page.all(CHANGE_ROWS)) == 12
    assert sandbox.counters.snapshot().count("PUT") == 0


def test_a_wrong_number_is_kept_marked_and_explained(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    # every read takes 1.5 s: the page that waits for the server can be looked at
    sandbox = make_sandbox(faults=FaultOptions(latency_ms=1500, methods=("GET",)))
    seed = stored_state(sandbox)
    settings = settings_for(sandbox, tmp_path, **{"guardrails.max_changes": 3})
    app = create_app(settings, FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.sign_in(app)
        page.open("/")
        page.find("edits-file").send_keys(str(SAMPLE_SHEET))
        page.click("upload")
        assert "Reading the current state" in page.find("preview-status").text
        shot(driver, "2a-preview-reading")
        page.find("preview-summary")
        preview_path = urlsplit(driver.current_url).path
        page.click("review-apply")
        page.find("confirm-input").send_keys("7")
        page.click("apply")
        error = page.find("confirm-error")
        field = page.find("confirm-input")
        assert "You typed 7, not 8." in error.text and "nothing was sent" in error.text
        assert field.get_attribute("value") == "7"
        assert field.get_attribute("aria-invalid") == "true"
        assert field.get_attribute("aria-describedby") == error.get_attribute("id")
        assert driver.switch_to.active_element == field  # the focus is back on the input
        assert (
            "guardrails" not in page.find("confirm-action").find_element(page.by.XPATH, "..").text
        )
        shot(driver, "3b-confirm-wrong-number")
        assert sandbox.counters.snapshot().count("PUT") == 0
        field.clear()
        field.send_keys("8")
        page.click("apply")
        assert "reading" in page.status_becomes("running")
        # the bar has a name; the status line that changes every second is not a live region
        assert driver.find_element(page.by.CSS_SELECTOR, "progress").accessible_name == "Rows sent"
        line = page.find("run-status")
        assert line.get_attribute("role") is None and line.get_attribute("aria-live") is None
        shot(driver, "4b-progress-reading")
        page.status_becomes("finished")
        # the outcome, reached by a reload, is read out once through the one live region
        announce = '[data-testid="run-announce"]'
        page.wait.until(
            lambda d: (
                "Apply finished: some rows need attention"
                in d.find_element(page.by.CSS_SELECTOR, announce).get_attribute("textContent")
            )
        )
        assert len(driver.find_elements(page.by.CSS_SELECTOR, '[role="status"]')) == 1
        report = page.download("download-report", tmp_path / "report.html")
        page.open(preview_path)
        eyebrow = page.find("preview-eyebrow").text
        assert "applied" in eyebrow and "nothing has been" not in eyebrow
        assert "This preview was applied" in page.find("preview-summary").text
        shot(driver, "2b-preview-after-apply")
        driver.get(report.as_uri())  # the HTML report, as its reader opens it
        assert "Column G: Note" in driver.page_source  # the sheet's mapping (issue 18)
        shot(driver, "9-report")
    assert stored_state(sandbox) == intended_state(seed)


def test_axe_core_is_installed() -> None:
    """Where axe-core is missing, this says so in the summary (the states were not checked)."""
    path = axe_path()
    if path is None:
        pytest.skip(f"axe-core is not installed: page states were not checked. {INSTALL}")
    assert "axe.run" in path.read_text(encoding="utf-8")[:2_000_000]
