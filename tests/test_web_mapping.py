"""The page's mapping step: a sheet with a column segsync cannot place asks what each column is,
then previews with the answer; the answer can be remembered for the next file with the same
headers. Over real loopback TCP, against the sandbox.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from segsync.sandbox import Sandbox
from tests.data.make_intent_corpus import make
from tests.helpers import settings_for
from tests.web_helpers import hook_count, hook_text, run, web_client


def test_an_unplaced_column_is_mapped_then_previewed_and_remembered(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = make("ops_unmapped.xlsx", tmp_path)
    before = sandbox.segment(100001)
    settings = settings_for(sandbox, tmp_path)

    async def body() -> None:
        async with web_client(settings) as web:
            response = await web.upload(path)
            assert response.status == 303
            columns = response.headers["Location"]
            assert columns.startswith("/uploads/") and columns.endswith("/columns")
            page = await web.page(columns)
            assert hook_count(page, "column-row") == 7  # every column, one row each
            assert hook_count(page, "column-choice") == 6  # all but the id
            assert "probably campaignId" in page and "probably description" in page
            assert '<option value="description" selected>' in page  # the guess, preselected
            bad = await web.post(columns, {"col-3": "note"})  # not every column answered
            assert bad.status == 400
            choices = {
                "col-1": "name",
                "col-2": "code",
                "col-3": "note",
                "col-4": "externalIdentifier",
                "col-5": "description",
                "col-6": "note",
                "remember": "yes",
            }
            response = await web.post(columns, choices)
            assert response.status == 303, await response.text()
            preview = response.headers["Location"]
            await web.wait_state(f"{preview}/status")
            page = await web.page(preview)
            assert "Calls" in page and "PG-01" in page  # the mapped description and code
            assert hook_text(page, "preview-summary")
            assert "Column F: Desc" in page  # the mapping, in the preview's facts
            assert sandbox.segment(100001) == before  # a preview sends nothing
            saved = tmp_path / "column-mappings.json"
            assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
            # the next file with the same headers goes straight to its preview
            again = await web.upload(path)
            assert again.status == 303 and again.headers["Location"].startswith("/previews/")
            await web.wait_state(f"{again.headers['Location']}/status")
            page = await web.page(again.headers["Location"])
            assert "the column mapping saved for these headers was used" in page
            await web.run(preview)
        assert sandbox.segment(100001)["description"] == "Calls"  # type: ignore[index]

    run(body())


def test_the_mapping_page_of_a_file_no_longer_kept_is_not_found(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            await web.page("/uploads/nope/columns", status=404)

    run(body())


def test_hidden_rows_are_asked_about_then_left_out(sandbox: Sandbox, tmp_path: Path) -> None:
    path = make("hidden_rows.xlsx", tmp_path)
    draft = sandbox.segment(100002)

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            response = await web.upload(path)
            assert response.status == 303
            hidden = response.headers["Location"]
            assert hidden.endswith("/hidden")
            page = await web.page(hidden)
            assert "row 3 (id 100002 &#39;DRAFT DO NOT SEND" in page
            assert "--hidden" not in page  # the page's own choice, not the command's flags
            bad = await web.post(hidden, {"hidden": "maybe"})
            assert bad.status == 400
            response = await web.post(hidden, {"hidden": "skip"})
            assert response.status == 303, await response.text()
            preview = response.headers["Location"]
            await web.wait_state(f"{preview}/status")
            page = await web.page(preview)
            assert "was left out (--hidden skip): row 3" in page
            assert "DRAFT DO NOT SEND" in page  # named in that warning, not among the changes
            await web.run(preview)
        assert sandbox.segment(100002) == draft
        assert sandbox.segment(100001)["name"] == "Visible rename"  # type: ignore[index]

    run(body())
