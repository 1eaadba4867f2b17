"""The second pair of eyes in a real headless Chromium: an operator's big plan waits, an approver
approves it, the operator applies it, and the Runs page names both.

Skipped, loudly, where no Chromium is installed (``tests.web_helpers.chrome``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.sandbox import Sandbox
from segsync.team.users import Role, UsersFile
from segsync.web import WebOptions, create_app
from segsync.web.server import serve_in_thread
from tests.helpers import settings_for, write_csv
from tests.test_web_browser import Page, shot
from tests.web_helpers import chrome

FAST_POLL = WebOptions(port=0, poll_interval_s=0.2)
PASSWORD = "a long team password"

pytestmark = pytest.mark.browser


def sign_in(page: Page, name: str) -> None:
    page.open("/login")
    page.find("username").send_keys(name)
    page.find("password").send_keys(PASSWORD)
    page.click("sign-in")
    page.find("signed-in-as")


def sign_out(page: Page) -> None:
    page.driver.find_element(page.by.CSS_SELECTOR, 'form[action="/logout"] button').click()
    page.find("username")


def test_a_big_plan_waits_for_an_approver_in_the_browser(sandbox: Sandbox, tmp_path: Path) -> None:
    users = UsersFile(tmp_path / "users.json")
    users.add("olive", Role.OPERATOR, PASSWORD)
    users.add("april", Role.APPROVER, PASSWORD)
    settings = settings_for(
        sandbox,
        tmp_path,
        **{"web.users_file": str(users.path), "web.approval_required_over": 2},
    )
    ids = [s["id"] for s in sandbox.segments()[:3]]
    sheet = write_csv(tmp_path / "big.csv", ["id", "name"], [[i, f"Seen twice {i}"] for i in ids])
    app = create_app(settings, FAST_POLL)
    with chrome() as driver, serve_in_thread(app, FAST_POLL) as url:
        page = Page(driver, url)
        page.open("/")
        shot(driver, "team-0-sign-in")
        sign_in(page, "olive")
        assert page.find("signed-in-as").text == "Signed in as olive (operator)"
        page.upload(sheet)
        page.click("review-apply")
        assert "more than 2" in page.find("approval-needed").text
        assert not page.all('[data-testid="apply"]')
        page.click("request-approval")
        assert "Waiting for approval" in page.find("approval-state").text
        shot(driver, "team-1-waiting")
        preview_url = driver.current_url
        sign_out(page)

        sign_in(page, "april")
        page.open("/approvals")
        rows = page.all('[data-testid="approval-row"]')
        assert len(rows) == 1 and "olive" in rows[0].text
        shot(driver, "team-2-approvals")
        rows[0].find_element(page.by.TAG_NAME, "a").click()
        page.find("preview-summary")
        shot(driver, "team-3-review")
        page.click("approve")
        page.find("approval-row")
        assert "approved by april" in page.find("approval-row").text
        assert all(sandbox.segment(i)["name"] != f"Seen twice {i}" for i in ids)
        sign_out(page)

        sign_in(page, "olive")
        driver.get(preview_url)
        page.click("apply")
        assert page.status_becomes("finished").startswith("finished")
        page.open("/runs")
        assert page.find("run-by").text.split() == ["olive", "approved", "by", "april"]
        shot(driver, "team-4-runs")
        sign_out(page)
        sign_in(page, "april")
        page.open("/audit")
        actions = [r.get_attribute("data-action") for r in page.all('[data-testid="audit-row"]')]
        assert {"sign-in", "upload", "request-approval", "approve", "apply"} <= set(actions)
        shot(driver, "team-5-audit")
    assert all(sandbox.segment(i)["name"] == f"Seen twice {i}" for i in ids)  # type: ignore[index]
