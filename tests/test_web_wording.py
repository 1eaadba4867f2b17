"""What the pages say, in the words a person expects: a preview reads and changes nothing, an
applied preview says so, the done page and the report keep the preview's warnings and cells,
the runs page speaks in words with time zones and marks a run already rolled back, and a
rollback's own pages say "roll back" rather than "upload" and "apply".

The pages are read through the harness's ``WebSession`` (its address, its cookie, its CSRF
token); the assertions are on the page's hooks and on what the server ended up holding.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from segsync.sandbox import Sandbox
from tests.helpers import settings_for
from tests.web_helpers import hook_count, hook_text, run, web_client


def _steps(page: str) -> list[str]:
    found = re.search(r'<ol class="steps"[^>]*>(.*?)</ol>', page, re.DOTALL)
    assert found, "the page has no step bar"
    items = re.findall(r"<li[^>]*>(.*?)</li>", found.group(1), re.DOTALL)
    return [re.sub(r"<[^>]+>", "", item).lstrip("0123456789") for item in items]


def test_preview_then_done_say_the_same_things(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview()
            page = await web.page(preview)
            assert "3 reads, 0 changes" in page and "Requests sent" not in page
            assert "Nothing was changed: this is a preview" in page
            assert "nothing has been changed in Raise" in hook_text(page, "preview-eyebrow")
            assert hook_text(page, "review-apply") == "Review and apply the changes to 8 segments…"
            assert "Changes (12 fields in 8 segments)" in page
            assert "12 field changes in 8 segments." in page
            # the sheet's column mapping (a note column is placed, not warned about: issue 18)
            warning = "Column G: Note"
            assert warning in page and "Edits!A13" in page  # the unknown id's cell

            job, status = await web.run(preview)
            assert status["state"] == "finished"
            done = await web.page(job)
            # the done page keeps the preview's mapping and the cell of every problem
            cells = re.findall(r'data-label="Cell">([^<]*)<', page)
            assert cells == ["Edits!A13", "Edits!C14", "Edits!A15", "Edits!A16"], cells
            assert re.findall(r'data-label="Cell">([^<]*)<', done) == cells
            assert warning in done
            assert re.search(r"Requests sent</th><td>\d+ \(\d+ reads?, 8 writes\)</td>", done)
            report = await (await web.get(f"/runs/{status['run_id']}/report")).text()
            assert warning in report and "Edits!A13" in report

            again = await web.page(preview)
            eyebrow = hook_text(again, "preview-eyebrow")
            assert "applied" in eyebrow and "nothing has been" not in eyebrow
            assert "This preview was applied" in again
            assert "Nothing was changed: this is a preview" not in again
            assert hook_count(again, "review-apply") == 0

    run(body())


@pytest.mark.usefixtures("new_york")
def test_runs_say_outcomes_in_words_with_the_zone_and_mark_a_rolled_back_run(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            _, status = await web.run(await web.preview())
            run_id = status["run_id"]
            runs = await web.page("/runs")
            assert "1 not found" in runs and "not_found" not in runs.split("<tbody>")[1]
            assert re.search(r"\d\d:\d\d:\d\d -0[45]00", runs), "a time without its zone"

            response = await web.post(f"/runs/{run_id}/rollback")
            preview = response.headers["Location"]
            await web.wait_state(f"{preview}/status")
            page = await web.page(preview)
            assert _steps(page) == ["Choose a run", "Preview", "Confirm", "Progress", "Done"]
            assert hook_text(page, "review-apply") == "Review and roll back 8 segments…"
            assert "review and roll it back" in page
            confirm = await web.page(f"{preview}/apply")
            assert _steps(confirm)[2] == "Confirm"
            job, done = await web.run(preview)
            assert done["state"] == "finished"
            assert _steps(await web.page(job))[0] == "Choose a run"

            runs = await web.page("/runs")
            rows = re.findall(r'<tr id="run-[^"]*" data-testid="run-row".*?</tr>', runs, re.DOTALL)
            assert len(rows) == 2
            by_id = {re.search(r'data-run-id="([^"]+)"', r).group(1): r for r in rows}  # type: ignore[union-attr]
            original, rollback_row = by_id[run_id], by_id[done["run_id"]]
            assert f'data-rollback-of="{run_id}"' in rollback_row
            assert f'data-rolled-back-by="{done["run_id"]}"' in original
            assert hook_count(original, "rolled-back") == 1
            assert hook_count(original, "rollback") == 0  # no second rollback offered
            assert hook_count(rollback_row, "rollback") == 1  # the rollback itself can be undone

    run(body())
