"""The mapping steps in a real headless Chromium: upload a sheet with columns segsync cannot
place, map them, and the preview shows the mapped change; a sheet hiding rows with data asks
first whether to leave them out. Every state passes ``check_state`` (axe-core WCAG A/AA and the
390 px width check; screenshots with ``SEGSYNC_WEB_SHOTS``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.sandbox import Sandbox
from segsync.web import create_app
from segsync.web.server import serve_in_thread
from tests.browser_checks import check_state
from tests.data.make_intent_corpus import make
from tests.helpers import settings_for
from tests.test_web_browser import CHANGE_ROWS, FAST_POLL, Page
from tests.web_helpers import chrome

pytestmark = pytest.mark.browser


def upload(page: Page, path: Path, lands_on: str) -> None:
    page.open("/")
    page.find("edits-file").send_keys(str(path))
    page.click("upload")
    page.find(lands_on)


def test_map_an_unplaced_column_and_preview_the_mapped_change(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import Select

    path = make("typos.xlsx", tmp_path)
    app = create_app(settings_for(sandbox, tmp_path), FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.sign_in(app)
        upload(page, path, "map-columns")
        rows = page.all('[data-testid="column-row"]')
        headers = [r.find_element(page.by.CSS_SELECTOR, ".header").text for r in rows]
        assert [h.split("\n")[0] for h in headers] == ["Segment ID", "Segmnet Name", "Descripton"]
        choices = page.all('[data-testid="column-choice"]')
        picked = [Select(c).first_selected_option.get_attribute("value") for c in choices]
        assert picked == ["name", "description"]  # the guesses, preselected
        check_state(driver, "mapping")
        Select(choices[1]).select_by_value("note")  # keep the description as a note
        page.click("map-columns")
        page.find("preview-summary")
        changes = [r.text for r in page.all(CHANGE_ROWS)]
        assert len(changes) == 1 and "Typo name" in changes[0]
        assert "Typo description" not in " ".join(changes)
    assert sandbox.segment(100001)["name"] != "Typo name"  # type: ignore[index]


def test_the_mapping_page_of_an_ops_sheet(sandbox: Sandbox, tmp_path: Path) -> None:
    app = create_app(settings_for(sandbox, tmp_path), FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.sign_in(app)
        upload(page, make("ops_unmapped.xlsx", tmp_path), "map-columns")
        assert len(page.all('[data-testid="column-choice"]')) == 6
        check_state(driver, "mapping-ops")


def test_the_hidden_cells_page_in_the_browser(sandbox: Sandbox, tmp_path: Path) -> None:
    app = create_app(settings_for(sandbox, tmp_path), FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.sign_in(app)
        upload(page, make("hidden_rows.xlsx", tmp_path), "hidden-choose")
        assert "DRAFT DO NOT SEND" in page.find("hidden-problem").text
        check_state(driver, "hidden")
        page.click("hidden-choose")
        page.find("preview-summary")
        changes = " ".join(r.text for r in page.all(CHANGE_ROWS))
        assert "Visible rename" in changes and "XXX" not in changes
