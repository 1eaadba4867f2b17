"""The sheet step in a real headless Chromium: a workbook with two sheets of edits asks which
one, the answer is given with the keyboard alone, and the preview shows that sheet. The step
passes ``check_state`` (axe-core WCAG A/AA and the 390 px width check; screenshots with
``SEGSYNC_WEB_SHOTS``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.sandbox import Sandbox
from segsync.web import create_app
from segsync.web.server import serve_in_thread
from tests.browser_checks import check_state
from tests.helpers import settings_for
from tests.test_web_browser import CHANGE_ROWS, FAST_POLL, Page
from tests.test_web_mapping_browser import upload
from tests.test_web_sheet_step import two_appeals
from tests.web_helpers import chrome

pytestmark = pytest.mark.browser


def test_choose_the_sheet_with_the_keyboard_then_preview_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    app = create_app(settings_for(sandbox, tmp_path), FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.sign_in(app)
        upload(page, two_appeals(tmp_path), "sheet-choose")
        options = page.all('[data-testid="sheet-option"]')
        labels = [
            page.driver.find_element(
                page.by.CSS_SELECTOR, f'label[for="{o.get_attribute("id")}"]'
            ).text
            for o in options
        ]
        assert labels == ["Spring Appeal", "Giving Tuesday"]
        assert not any(o.is_selected() for o in options)
        check_state(driver, "sheet-step")
        options[0].send_keys(Keys.SPACE)  # the first radio, then the arrow to the next one
        options[0].send_keys(Keys.ARROW_DOWN)
        assert options[1].is_selected() and not options[0].is_selected()
        options[1].send_keys(Keys.ENTER)  # Enter in a form submits it
        page.find("preview-summary")
        changes = " ".join(r.text for r in page.all(CHANGE_ROWS))
        assert "Tuesday rename" in changes and "Spring rename" not in changes
    assert sandbox.segment(100001)["name"] != "Tuesday rename"  # type: ignore[index]
