"""The web app's pages, driven with aiohttp's test client against a real sandbox on 127.0.0.1.

One test per page of the flow (upload, preview, apply, progress, done, runs) plus the sheet
choice and the file-level problems; the end state is checked on the sandbox itself.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from segsync.sandbox import Sandbox
from tests.helpers import read_results, settings_for, write_csv, write_xlsx
from tests.web_helpers import (
    EDITABLE,
    hook_count,
    hook_text,
    intended_state,
    run,
    stored_state,
    table_rows,
    web_client,
)


def changed_fields(sandbox: Sandbox) -> int:
    """Fields the sample sheet changes, worked out from the sheet (not by segsync)."""
    seed = {s["id"]: s for s in sandbox.segments()}
    want = intended_state(seed)
    return sum(want[i][f] != seed[i][f] for i in want for f in EDITABLE)


def test_upload_page_is_a_form_with_its_token(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path), sign_in=False) as web:
            cookie = (await web.sign_in()).headers["Set-Cookie"]
            response = await web.get("/")
            page = await response.text()
            assert response.status == 200
            assert hook_count(page, "edits-file") == 1
            assert hook_count(page, "upload") == 1
            assert 'enctype="multipart/form-data"' in page
            # the token comes first, so the server can check it before storing any byte
            assert page.index('name="csrf_token"') < page.index('name="edits"')
            assert "<style" not in page and "<script>" not in page and " style=" not in page
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

    run(body())


def test_report_styles_are_served_as_a_file(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            css = await web.get("/static/report.css")
            text = await css.text()
            assert css.status == 200 and css.content_type == "text/css"
            assert "--accent" in text and "<style" not in text  # the report's own stylesheet
            js = await web.get("/static/progress.js")
            assert js.content_type == "text/javascript"
            assert "textContent" in await js.text() and "innerHTML" not in await js.text()
            for bad in ("/static/app.py", "/static/..%2fapp.py", "/static/"):
                assert (await web.get(bad)).status == 404

    run(body())


def test_preview_reads_once_and_sends_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview()
            page = await web.page(preview)
            snap = sandbox.counters.snapshot()
            assert snap.count("PUT") == 0
            assert 0 < snap.count("GET") <= 3  # the current state, read once, here
            assert hook_count(page, "preview-summary") == 1
            summary = hook_text(page, "preview-summary")
            assert "Rows by outcome" in summary or "Summary" in summary
            # problems first, each with its cell and reason
            assert page.index('id="problems"') < page.index('id="changes"')
            assert table_rows(page, "problems") == 4
            assert "Edits!C14" in page and "Edits!A13" in page  # the cleared name; the unknown id
            # one line per changed field, counted from the sheet independently of segsync
            assert table_rows(page, "changes") == changed_fields(sandbox) == 12
            assert "<details>" in page  # unchanged rows folded
            assert "segsync apply" not in page  # the page's own words, not the CLI's
            workbook = await web.get(f"{preview}/workbook")
            data = await workbook.read()
            assert workbook.status == 200 and data[:2] == b"PK"
            assert "attachment" in workbook.headers["Content-Disposition"]
            assert "segment_edits_preview" in workbook.headers["Content-Disposition"]

    run(body())


def test_rows_carry_their_test_hooks(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            page = await web.page(await web.preview())
            assert hook_count(page, "change-row") == table_rows(page, "changes") == 12
            assert hook_count(page, "problem-row") == table_rows(page, "problems") == 4

    run(body())


def test_apply_runs_the_preview_and_the_done_page_offers_its_files(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    seed = {s["id"]: s for s in sandbox.segments()}

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview()
            confirm = await web.page(f"{preview}/apply")
            action = hook_text(confirm, "confirm-action")
            assert action == f"Update 8 segments in Raise at {sandbox.base_url}."
            assert hook_count(confirm, "apply") == 1
            assert hook_count(confirm, "confirm-input") == 0  # no guardrail configured
            job, status = await web.run(preview)
            assert status["state"] == "finished"
            done = await web.page(job)
            assert "finished" in hook_text(done, "run-status")
            run_id = status["run_id"]
            assert run_id and hook_text(done, "run-id") == run_id
            for hook in ("download-results", "download-report"):
                assert hook_count(done, hook) == 1
            results = await web.get(f"/runs/{run_id}/results")
            assert results.status == 200
            saved = tmp_path / "results.xlsx"
            saved.write_bytes(await results.read())
            outcomes = [r["outcome"] for r in read_results(saved)]
            assert outcomes.count("updated") == 8 and len(outcomes) == 15
            report = await web.get(f"/runs/{run_id}/report")
            assert report.status == 200 and "attachment" in report.headers["Content-Disposition"]
            assert "<html" in await report.text()
            runs = await web.page("/runs")
            assert hook_count(runs, "run-row") == 1 and run_id in runs
            # applied once: the same preview is not sent twice
            again = await web.post(f"{preview}/apply")
            assert again.status == 409

    run(body())
    assert stored_state(sandbox) == intended_state(seed)


def test_file_problems_are_shown_at_once_and_nothing_is_kept(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            cases = {
                "notes.pdf": b"%PDF-1.4 not a sheet",
                "empty.csv": b"",
                "segments.xlsx": b"id,name\n1,x\n",
                "no_id.csv": b"name,code\nx,1\n",
            }
            for name, content in cases.items():
                response = await web.upload(name=name, content=content)
                page = await response.text()
                assert response.status == 400, (name, page[:300])
                problem = hook_text(page, "file-problem")
                assert name in problem, problem  # the loader's sentence, with the person's name
                assert "upload." not in problem  # never the stored file's name
            assert sandbox.counters.snapshot().total == 0
            app_state = web.state
            assert list(app_state.uploads_dir.iterdir()) == []

    run(body())


def test_a_workbook_with_several_sheets_offers_a_choice(sandbox: Sandbox, tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "two.xlsx"
    book = xlsxwriter.Workbook(str(path))
    for sheet, name in (("First", "From the first sheet"), ("Second", "From the second sheet")):
        ws = book.add_worksheet(sheet)
        ws.write_row(0, 0, ["id", "name"])
        ws.write_row(1, 0, [100001, name])
    book.close()

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            state = web.state
            step = (await web.upload(path)).headers["Location"]  # which sheet? (see
            chosen = await web.post(step, {"sheet": "First"})  # test_web_sheet_step)
            preview = chosen.headers["Location"]
            await web.wait_state(f"{preview}/status")
            page = await web.page(preview)
            assert "From the first sheet" in page and hook_count(page, "sheet-select") == 1
            assert len(list(state.uploads_dir.iterdir())) == 1  # kept for the sheet choice
            response = await web.post(f"{preview}/sheet", {"sheet": "Second"})
            assert response.status == 303
            second = response.headers["Location"]
            await web.wait_state(f"{second}/status")
            page = await web.page(second)
            assert "From the second sheet" in page and "sheet Second" in page
            bad = await web.post(f"{second}/sheet", {"sheet": "../../etc"})
            assert bad.status == 400
            await web.run(second)
            assert list(state.uploads_dir.iterdir()) == []  # applied: no longer needed
        assert not state.folder.exists()  # the app's private folder goes with the app

    run(body())
    assert sandbox.segment(100001)["name"] == "From the second sheet"  # type: ignore[index]


def test_a_csv_is_read_once_and_removed(sandbox: Sandbox, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "edits.csv", ["id", "code"], [[100003, "FB70"]])

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            state = web.state
            page = await web.page(await web.preview(sheet, name="../../Q3 edits.csv"))
            assert "Q3 edits.csv" in page and "../" not in page
            assert list(state.uploads_dir.iterdir()) == []
            assert hook_count(page, "sheet-select") == 0

    run(body())


def test_nothing_to_send_has_no_apply_button(sandbox: Sandbox, tmp_path: Path) -> None:
    current = sandbox.segment(100001)
    assert current is not None
    sheet = write_xlsx(tmp_path / "same.xlsx", ["id", "name"], [[100001, current["name"]]])

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview(sheet)
            page = await web.page(preview)
            assert hook_count(page, "review-apply") == 0
            assert (await web.post(f"{preview}/apply")).status == 409

    run(body())


def test_results_workbook_download_is_a_zip_of_the_run(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            _, status = await web.run(await web.preview())
            data = await (await web.get(f"/runs/{status['run_id']}/results")).read()
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                assert any(n.startswith("xl/worksheets/") for n in archive.namelist())
            assert (await web.get("/runs/..%2F..%2Fetc/results")).status == 404
            assert (await web.get("/runs/nope/report")).status == 404

    run(body())
