"""The page under heavy uploads: capped lists (everything in the workbook), a ceiling on
previews in progress, a storage quota that removes the oldest first, and the rows of a
finished job not kept in memory. (The event loop's latency under a 100,000-row preview, and
the peak memory of a 1,048,576-row sheet, are measured by bench/bench_web_load.py.)"""

from __future__ import annotations

from pathlib import Path

from python_calamine import CalamineWorkbook

from segsync.sandbox import Sandbox
from segsync.web import WebOptions
from segsync.web.render import PAGE_LIMIT
from tests.conftest import MakeSandbox
from tests.helpers import settings_for, write_csv
from tests.web_helpers import SAMPLE_SHEET, hook_count, hook_text, run, table_rows, web_client


def big_sheet(sandbox: Sandbox, path: Path, renames: int, unknown: int) -> Path:
    ids = [s["id"] for s in sandbox.segments()][:renames]
    rows = [[i, f"Renamed {i}"] for i in ids]
    rows += [[9_000_000 + n, f"Nobody {n}"] for n in range(unknown)]
    return write_csv(path, ["id", "name"], rows)


def test_a_big_preview_lists_the_first_changes_and_problems_and_says_so(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sandbox = make_sandbox(seed_csv=None, seed_rows=1200)
    sheet = big_sheet(sandbox, tmp_path / "big.csv", 1200, 600)

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview(sheet)
            page = await web.page(preview)
            assert table_rows(page, "changes") == PAGE_LIMIT
            assert table_rows(page, "problems") == PAGE_LIMIT
            assert hook_text(page, "changes-capped") == (
                f"Showing the first {PAGE_LIMIT} of 1,200 changes; download the workbook for all."
            )
            assert hook_text(page, "problems-capped") == (
                f"Showing the first {PAGE_LIMIT} of 600 problems; download the workbook for all."
            )
            assert "Changes (1,200)" in page and "Problems (600)" in page
            assert "Review and apply the changes to 1,200 segments" in page
            # the section list counts the whole run too, not the rows listed
            assert "Changes (1,200 fields in 1,200 segments)" in page
            workbook = await web.get(f"{preview}/workbook")
            path = tmp_path / "preview.xlsx"
            path.write_bytes(await workbook.read())
            results = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Results")
            assert len(results.to_python()) - 1 == 1800  # every row, in the download
            job = web.state.previews[preview.rsplit("/", 1)[-1]].job
            assert job.result is not None and job.result.rows == []  # not kept in memory
            assert job.view.change_total == 1200
            # the plan waits on disk, private, for the apply (which reads it back)
            assert job.plan is not None and job.plan.rows == [] and job.plan.path is not None
            assert job.plan.path.stat().st_mode & 0o777 == 0o600

    run(body())


def test_a_small_preview_says_nothing_about_a_cap(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            page = await web.page(await web.preview())
            assert "Showing the first" not in page
            assert hook_count(page, "changes-capped") == 0

    run(body())


def test_previews_beyond_the_ceiling_are_refused_before_storing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        options = WebOptions(max_previews=1)
        async with web_client(settings_for(sandbox, tmp_path), options) as web:
            slots = web.state.preview_slots
            held = slots.take()  # one preview in progress
            assert held is not None
            refused = await web.upload()
            text = await refused.text()
            assert refused.status == 503
            assert "already preparing 1 preview, the most it works on at once" in text
            assert "nothing was stored or sent" in text
            assert list(web.state.uploads_dir.iterdir()) == []
            with held:
                pass  # that preview ends
            await web.preview()
            assert slots.used == 0  # the preview gave its slot back when it ended
            assert sandbox.counters.snapshot().count("PUT") == 0

    run(body())


def test_the_storage_quota_removes_the_oldest_unused_first(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        size = SAMPLE_SHEET.stat().st_size
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            await web.preview()
            one = sum(p.stat().st_size for p in web.state.folder.rglob("*") if p.is_file())
        # room for two previews' workbooks, not for two and a third upload
        quota_mb = (2 * one + size // 2) / (1024 * 1024)
        options = WebOptions(storage_mb=quota_mb)
        async with web_client(settings_for(sandbox, tmp_path), options) as web:
            first = await web.preview()
            second = await web.preview()
            third = await web.preview()
            assert (await web.get(first)).status == 404  # the oldest went first
            assert (await web.get(second)).status == 200
            assert (await web.get(third)).status == 200
            used = sum(p.stat().st_size for p in web.state.folder.rglob("*") if p.is_file())
            assert used <= quota_mb * 1024 * 1024

    run(body())
