"""The audit page a page at a time, in a real headless Chromium: the newest entries, then the
older ones through the page's own link; each state passes ``check_state`` (axe-core WCAG A/AA,
the 390 px width check; screenshots with ``SEGSYNC_WEB_SHOTS``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.sandbox import Sandbox
from segsync.team.audit import audit_path
from segsync.team.users import Role, UsersFile
from segsync.web import create_app
from segsync.web.server import serve_in_thread
from segsync.web.teamaudit import AUDIT_PAGE_ROWS
from tests.browser_checks import check_state
from tests.helpers import settings_for
from tests.test_web_audit_page import generated_trail
from tests.test_web_team_browser import FAST_POLL, PASSWORD, sign_in
from tests.web_helpers import chrome

pytestmark = pytest.mark.browser


def test_page_back_through_the_audit_trail(sandbox: Sandbox, tmp_path: Path) -> None:
    users = UsersFile(tmp_path / "users.json")
    users.add("april", Role.APPROVER, PASSWORD)
    settings = settings_for(sandbox, tmp_path, **{"web.users_file": str(users.path)})
    total = AUDIT_PAGE_ROWS + 20
    generated_trail(audit_path(settings), total)
    app = create_app(settings, FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        from tests.test_web_browser import Page

        page = Page(driver, url)
        sign_in(page, "april")
        page.open("/audit")
        rows = page.all('[data-testid="audit-row"]')
        assert rows[0].get_attribute("data-person") == "april"
        assert rows[1].get_attribute("data-person") == f"person-{total - 1}"
        check_state(driver, "audit-newest")
        page.click("audit-older")
        page.find("audit-newest")
        people = [r.get_attribute("data-person") for r in page.all('[data-testid="audit-row"]')]
        assert people == [f"person-{i}" for i in range(20, -1, -1)]
        check_state(driver, "audit-older")
