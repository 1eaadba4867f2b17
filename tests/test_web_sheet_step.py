"""The page's sheet step: a workbook with several sheets that could hold the edits asks which
one before any preview (as the CLI asks for ``--sheet``), then previews that sheet; a workbook
with one candidate previews at once. Over real loopback TCP, against the sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from segsync.sandbox import Sandbox
from tests.helpers import settings_for
from tests.web_helpers import hook_count, hook_text, run, web_client


def workbook(path: Path, sheets: Sequence[tuple[str, list[str], list[list[object]]]]) -> Path:
    """An .xlsx with one sheet per (name, header, rows)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    for name, header, rows in sheets:
        ws = book.add_worksheet(name)
        ws.write_row(0, 0, header)
        for i, row in enumerate(rows, start=1):
            ws.write_row(i, 0, row)
    book.close()
    return path


def two_appeals(tmp_path: Path) -> Path:
    return workbook(
        tmp_path / "appeals.xlsx",
        [
            ("Spring Appeal", ["id", "name"], [[100001, "Spring rename"]]),
            ("Giving Tuesday", ["id", "name"], [[100001, "Tuesday rename"]]),
        ],
    )


def test_several_candidate_sheets_ask_which_one_before_any_preview(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = two_appeals(tmp_path)
    before = sandbox.segment(100001)

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            state = web.state
            response = await web.upload(path)
            assert response.status == 303
            step = response.headers["Location"]
            assert step.startswith("/uploads/") and step.endswith("/sheet")
            assert state.previews == {}  # nothing previewed, no server read, before the answer
            page = await web.page(step)
            assert hook_count(page, "sheet-option") == 2
            assert 'value="Spring Appeal"' in page and 'value="Giving Tuesday"' in page
            assert " checked" not in page  # the person chooses; nothing is chosen for them
            assert "Which sheet holds your edits?" in page
            assert "Next: the preview of that sheet" in page
            missing = await web.post(step, {})
            assert missing.status == 400
            assert hook_text(await missing.text(), "sheet-problem") == (
                "Choose the sheet that holds your edits."
            )
            forged = await web.post(step, {"sheet": "Hidden notes"})
            assert forged.status == 400 and state.previews == {}
            chosen = await web.post(step, {"sheet": "Giving Tuesday"})
            assert chosen.status == 303
            preview = chosen.headers["Location"]
            assert preview.startswith("/previews/")
            await web.wait_state(f"{preview}/status")
            page = await web.page(preview)
            assert "Tuesday rename" in page and "Spring rename" not in page
            assert "sheet Giving Tuesday" in page
            assert hook_count(page, "sheet-select") == 1  # another sheet is still one choice away
            assert (await web.get(step)).status == 404  # the question was answered
            assert sandbox.segment(100001) == before  # a preview sends nothing
            await web.run(preview)
            assert list(state.uploads_dir.iterdir()) == []  # applied: the file is let go

    run(body())
    assert sandbox.segment(100001)["name"] == "Tuesday rename"  # type: ignore[index]


def test_one_candidate_after_an_instructions_sheet_previews_at_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = workbook(
        tmp_path / "with-notes.xlsx",
        [
            ("Read me", ["How to use this workbook"], [["Fill in the Edits sheet."]]),
            ("Edits", ["id", "name"], [[100002, "Only candidate"]]),
        ],
    )

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            response = await web.upload(path)
            assert response.status == 303
            preview = response.headers["Location"]
            assert preview.startswith("/previews/")
            await web.wait_state(f"{preview}/status")
            page = await web.page(preview)
            assert "Only candidate" in page and "sheet Edits" in page
            assert "this preview shows sheet &#39;Edits&#39;, the only sheet with an id" in page

    run(body())


def test_the_chosen_sheet_is_kept_through_the_column_step(sandbox: Sandbox, tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "mixed.xlsx",
        [
            ("Plain", ["id", "name"], [[100001, "From the plain sheet"]]),
            ("Typos", ["id", "Segmnet Name"], [[100001, "From the typo sheet"]]),
        ],
    )

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            step = (await web.upload(path)).headers["Location"]
            assert step.endswith("/sheet")
            columns = (await web.post(step, {"sheet": "Typos"})).headers["Location"]
            assert columns.endswith("/columns")
            response = await web.post(columns, {"col-1": "name"})
            assert response.status == 303, await response.text()
            preview = response.headers["Location"]
            await web.wait_state(f"{preview}/status")
            page = await web.page(preview)
            assert "From the typo sheet" in page and "From the plain sheet" not in page

    run(body())


def test_the_sheet_step_waits_for_a_free_preview_slot(sandbox: Sandbox, tmp_path: Path) -> None:
    path = two_appeals(tmp_path)

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            state = web.state
            step = (await web.upload(path)).headers["Location"]
            held = [state.preview_slots.take() for _ in range(state.preview_slots.limit)]
            busy = await web.post(step, {"sheet": "Spring Appeal"})
            assert busy.status == 503 and "already preparing" in await busy.text()
            assert state.previews == {}
            for slot in held:
                assert slot is not None
                slot.__exit__(None, None, None)
            again = await web.post(step, {"sheet": "Spring Appeal"})  # the answer still stands
            assert again.status == 303 and again.headers["Location"].startswith("/previews/")
            await web.wait_state(f"{again.headers['Location']}/status")
            assert state.preview_slots.used == 0  # the preview gave its slot back

    run(body())
