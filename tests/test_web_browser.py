"""The upload page in a real headless Chromium (Debian's chromium + chromedriver, Selenium).

Skipped, loudly, where no Chromium is installed. Every page state reached is checked with
axe-core and for its width at 390 px (``tests/browser_checks.py``); set
``SEGSYNC_WEB_SHOTS=/some/folder`` to keep full-length screenshots of each at 390, 768 and
1280 px.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from segsync.sandbox import FaultOptions, Sandbox
from segsync.web import WebOptions, create_app
from segsync.web.server import serve_in_thread
from segsync.web.state import STATE
from tests.browser_checks import check_state
from tests.conftest import MakeSandbox
from tests.helpers import read_results, settings_for
from tests.web_helpers import (
    DEADLINE_S,
    SAMPLE_SHEET,
    chrome,
    intended_state,
    stored_state,
)

#: the rows of the shared partials, by their test hook only: a missing hook fails the test
CHANGE_ROWS = '[data-testid="change-row"]'
PROBLEM_ROWS = '[data-testid="problem-row"]'
#: the main navigation: absent before signing in, present after
NAV = ".topnav"
FAST_POLL = WebOptions(port=0, poll_interval_s=0.2)

pytestmark = pytest.mark.browser


def shot(driver: Any, name: str) -> None:
    """Every page state the tests reach comes through here: axe-core (WCAG A/AA), no page
    wider than a 390 px viewport, and with ``SEGSYNC_WEB_SHOTS`` screenshots at 390, 768 and
    1280 px (``tests/browser_checks.py``)."""
    check_state(driver, name)


class Page:
    """The few Selenium moves these tests make, each waiting by polling with a deadline."""

    def __init__(self, driver: Any, url: str) -> None:
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.url, self.by = driver, url, By
        # the progress page reloads itself when the run ends: an element found just before
        # the reload is stale by the time it is read, so a wait tries again
        self.wait = WebDriverWait(
            driver,
            DEADLINE_S,
            poll_frequency=0.05,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        )

    def open(self, path: str) -> None:
        self.driver.get(self.url + path)

    def sign_in(self, app: Any) -> None:
        """Open the address ``segsync web`` prints (its token becomes the session cookie)."""
        self.driver.get(app[STATE].sign_in_url(self.url))

    def find(self, testid: str) -> Any:
        css = f'[data-testid="{testid}"]'
        return self.wait.until(lambda d: d.find_element(self.by.CSS_SELECTOR, css))

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(self.by.CSS_SELECTOR, css))

    def click(self, testid: str) -> None:
        self.find(testid).click()

    def status_becomes(self, word: str) -> str:
        from selenium.common.exceptions import WebDriverException

        def has(driver: Any) -> str | None:
            found = driver.find_elements(self.by.CSS_SELECTOR, '[data-testid="run-status"]')
            try:
                shown = str(found[0].text) if found else ""
            except WebDriverException as error:
                # the same reload race as a stale element, as Chromium reports it when the
                # node went between the find and the read: look again
                if "does not belong to the document" in str(error):
                    return None
                raise
            return shown if word in shown else None

        return str(self.wait.until(has))

    def text_appears(self, text: str) -> None:
        """Wait until the page (a new one, after a form post) shows ``text``."""
        self.wait.until(lambda d: text in d.find_element(self.by.TAG_NAME, "body").text)

    def upload(self, path: Path) -> None:
        self.open("/")
        self.find("edits-file").send_keys(str(path))
        self.click("upload")
        self.find("preview-summary")

    def download(self, testid: str, dest: Path) -> Path:
        """GET the link's href with the browser's session cookie (no download dialog)."""
        href = self.find(testid).get_attribute("href")
        cookies = {c["name"]: c["value"] for c in self.driver.get_cookies()}
        response = httpx.get(href, cookies=cookies, trust_env=False, timeout=30)
        assert response.status_code == 200, response.text[:300]
        dest.write_bytes(response.content)
        return dest


def test_upload_preview_apply_download_then_roll_back(sandbox: Sandbox, tmp_path: Path) -> None:
    seed = stored_state(sandbox)
    app = create_app(settings_for(sandbox, tmp_path), FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.sign_in(app)
        shot(driver, "1-upload")
        page.upload(SAMPLE_SHEET)
        assert len(page.all(CHANGE_ROWS)) == 12  # one per changed field
        assert len(page.all(PROBLEM_ROWS)) == 4
        assert (
            "Edits!C14"
            in page.find("preview-summary")
            .find_element(page.by.XPATH, "following::section[@id='problems']")
            .text
        )
        shot(driver, "2-preview")
        page.click("review-apply")
        assert "Update 8 segments in Raise at" in page.find("confirm-action").text
        shot(driver, "3-confirm")
        page.click("apply")
        assert page.status_becomes("finished").startswith("finished")
        shot(driver, "5-done")
        run_id = page.find("run-id").text
        results = page.download("download-results", tmp_path / "results.xlsx")
        outcomes = [r["outcome"] for r in read_results(results)]
        assert outcomes.count("updated") == 8
        report = page.download("download-report", tmp_path / "report.html")
        assert run_id in report.read_text(encoding="utf-8")
        assert stored_state(sandbox) == intended_state(seed)

        page.open("/runs")
        rows = page.all('[data-testid="run-row"]')
        assert [r.get_attribute("data-run-id") for r in rows] == [run_id]
        shot(driver, "6-runs")
        rows[0].find_element(page.by.CSS_SELECTOR, '[data-testid="rollback"]').click()
        page.find("preview-summary")
        assert len(page.all(CHANGE_ROWS)) == 12
        shot(driver, "7-rollback-preview")
        page.click("review-apply")
        assert "Put back 8 segments" in page.find("confirm-action").text
        page.click("apply")
        page.status_becomes("finished")
        page.open("/runs")
        assert len(page.all('[data-testid="run-row"]')) == 2
        shot(driver, "8-runs-after-rollback")
    assert stored_state(sandbox) == seed


def test_a_colleagues_change_between_preview_and_apply_ends_conflict(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    # every PUT takes 300 ms, so the progress page can be watched while the run goes
    sandbox = make_sandbox(faults=FaultOptions(latency_ms=300, methods=("PUT",)))
    settings = settings_for(sandbox, tmp_path, **{"rate_limit.max_concurrency": 1})
    app = create_app(settings, FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.sign_in(app)
        page.upload(SAMPLE_SHEET)
        page.click("review-apply")
        sandbox.modify(100004, name="Changed by a colleague")
        page.click("apply")
        page.wait.until(
            lambda d: (
                d.find_element(page.by.CSS_SELECTOR, '[data-field="done"]').text not in ("", "0")
            )
        )
        assert "running" in page.find("run-status").text
        shot(driver, "4-progress")
        page.status_becomes("finished")
        problems = [r.text for r in page.all(PROBLEM_ROWS)]
        assert any("100004" in p and "changed by someone else" in p for p in problems)
        shot(driver, "5-done-conflict")
        results = page.download("download-results", tmp_path / "results.xlsx")
        rows = {int(r["id"]): r["outcome"] for r in read_results(results)}
        assert rows[100004] == "conflict" and rows[100001] == "updated"
    assert sandbox.segment(100004)["name"] == "Changed by a colleague"  # type: ignore[index]


def test_login_and_a_refused_file_in_the_browser(sandbox: Sandbox, tmp_path: Path) -> None:
    options = WebOptions(port=0, password="open sesame, please", poll_interval_s=0.2)
    app = create_app(settings_for(sandbox, tmp_path), options)
    bad = tmp_path / "notes.xlsx"
    bad.write_text("id,name\n100001,a text file named like a workbook\n", encoding="utf-8")
    with chrome() as driver, serve_in_thread(app, options) as url:
        page = Page(driver, url)
        page.open("/")
        password = page.find("password")
        shot(driver, "0-login")
        assert not page.all(NAV)  # nothing but the login before signing in
        password.send_keys("wrong")
        page.click("sign-in")
        page.text_appears("That password is not right.")
        page.find("password").send_keys("open sesame, please")
        page.click("sign-in")
        page.find("edits-file").send_keys(str(bad))
        assert len(page.all(NAV)) == 1  # the check above looked for something that exists
        page.click("upload")
        problem = page.find("file-problem").text
        assert "notes.xlsx" in problem and "not an Excel workbook" in problem
        shot(driver, "1b-file-problem")
    assert sandbox.counters.snapshot().total == 0
