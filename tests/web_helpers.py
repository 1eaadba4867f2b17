"""Helpers for the web tests: the app under aiohttp's own test client, and headless Chromium.

``web_client(settings)`` serves ``create_app(settings)`` with ``aiohttp.test_utils`` (no
pytest plugin needed) on 127.0.0.1. ``WebSession`` wraps it with the steps of the flow (upload,
wait for the preview, apply, wait for the run), each waiting by polling a condition with a
deadline, never by sleeping a fixed time. ``chrome`` starts Debian's Chromium through
chromedriver, or skips the test loudly when either is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, FormData, web
from aiohttp.test_utils import TestClient, TestServer

from segsync.config import Settings
from segsync.web import WebOptions, create_app
from segsync.web.state import STATE, WebState

REPO = Path(__file__).resolve().parent.parent
SAMPLE_SHEET = REPO / "samples" / "segment_edits.xlsx"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: seconds any wait in these tests may take before it fails
DEADLINE_S = 60.0

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no form with a csrf_token"
    return html.unescape(found.group(1))


def hook_count(page: str, testid: str) -> int:
    return page.count(f'data-testid="{testid}"')


def hook_text(page: str, testid: str) -> str:
    """The text of the first element with ``data-testid`` (up to its first closing tag of the
    same name; tags inside dropped, unescaped, spaces collapsed)."""
    found = re.search(rf'<(\w+)[^>]*data-testid="{testid}"[^>]*>(.*?)</\1>', page, re.DOTALL)
    assert found, f"no data-testid={testid} on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split())


def table_rows(page: str, table_class: str) -> int:
    """Body rows of the report table ``table_class`` (``changes``, ``problems``)."""
    found = re.search(rf'<table class="{table_class}">.*?<tbody>(.*?)</tbody>', page, re.DOTALL)
    return found.group(1).count("<tr") if found else 0


async def wait_until(
    probe: Callable[[], Awaitable[Any]], *, what: str, deadline_s: float = DEADLINE_S
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class WebSession:
    """One browser-like visitor of the app (cookie jar, CSRF token) and the steps it takes.

    Every response it receives is kept in ``seen`` (headers and body, and the members of a
    zip download), for tests that look for what must never be sent to a browser.
    """

    client: TestClient[Any, Any]
    app: web.Application
    seen: list[bytes] = field(default_factory=list)

    @property
    def state(self) -> WebState:
        return self.app[STATE]

    @property
    def port(self) -> int:
        return int(self.client.server.port or 0)

    async def _keep(self, response: ClientResponse) -> ClientResponse:
        data = await response.read()
        self.seen.append(repr(dict(response.headers)).encode() + b"\n" + data)
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                self.seen.extend(archive.read(n) for n in archive.namelist())
        return response

    @property
    def printed_url(self) -> str:
        """The address ``segsync web`` would print for this server (token included)."""
        return self.state.sign_in_url(str(self.client.make_url("/")))

    async def sign_in(self) -> ClientResponse:
        """Open the printed URL, as a person does: its token becomes the session cookie."""
        response = await self.client.session.get(self.printed_url, allow_redirects=False)
        assert response.status == 303, (response.status, (await response.text())[:300])
        return response

    async def get(self, path: str, **kw: Any) -> ClientResponse:
        return await self._keep(await self.client.get(path, **kw))

    async def send(self, path: str, data: Any, **kw: Any) -> ClientResponse:
        kw.setdefault("allow_redirects", False)
        return await self._keep(await self.client.post(path, data=data, **kw))

    async def page(self, path: str, status: int = 200) -> str:
        response = await self.get(path)
        text = await response.text()
        assert response.status == status, (response.status, text[:500])
        return text

    async def token(self) -> str:
        return csrf_of(await self.page("/"))

    async def post(
        self, path: str, data: dict[str, str] | None = None, **kw: Any
    ) -> ClientResponse:
        return await self.send(path, {"csrf_token": await self.token(), **(data or {})}, **kw)

    async def upload(
        self,
        path: Path = SAMPLE_SHEET,
        *,
        name: str | None = None,
        content: bytes | None = None,
        token: str | None = "auto",
    ) -> ClientResponse:
        form = FormData()
        if token == "auto":
            token = await self.token()
        if token is not None:
            form.add_field("csrf_token", token)
        body = content if content is not None else path.read_bytes()
        form.add_field("edits", body, filename=name or path.name)
        return await self.send("/upload", form)

    async def preview(self, path: Path = SAMPLE_SHEET, **kw: Any) -> str:
        """Upload and wait for the preview; returns the preview's address."""
        response = await self.upload(path, **kw)
        assert response.status == 303, (response.status, (await response.text())[:800])
        where = response.headers["Location"]
        await self.wait_state(f"{where}/status")
        return where

    async def wait_state(self, status_url: str) -> dict[str, Any]:
        async def ended() -> dict[str, Any] | None:
            data: dict[str, Any] = await (await self.get(status_url)).json()
            return data if data["state"] != "running" else None

        result: dict[str, Any] = await wait_until(ended, what=f"{status_url} to end")
        return result

    async def apply(self, preview: str, **fields: str) -> str:
        """Confirm a preview; returns the run's page address."""
        response = await self.post(f"{preview}/apply", fields)
        assert response.status == 303, (response.status, (await response.text())[:800])
        return response.headers["Location"]

    async def run(self, preview: str, **fields: str) -> tuple[str, dict[str, Any]]:
        job = await self.apply(preview, **fields)
        return job, await self.wait_state(f"{job}/status")


@contextlib.asynccontextmanager
async def web_client(
    settings: Settings, options: WebOptions | None = None, *, sign_in: bool = True
) -> AsyncIterator[WebSession]:
    """The app served on 127.0.0.1 and a visitor of it, signed in the way a person is: by
    opening the printed URL (with its token). With a password, or ``sign_in=False``, the
    visitor starts signed out."""
    app = create_app(settings, options)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        web = WebSession(client, app)
        if sign_in and web.state.gate.token is not None:
            await web.sign_in()
        yield web


def run(coro: Awaitable[Any]) -> Any:
    """Run one test's coroutine (no pytest-asyncio plugin)."""

    async def main() -> Any:
        return await coro

    return asyncio.run(main())


# -- headless Chromium -------------------------------------------------------------------------


def chrome_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            return path
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium"
    return None


@contextlib.contextmanager
def chrome(downloads: Path | None = None) -> Iterator[Any]:
    """A headless Chromium at 1280×800 (as root: no sandbox), or a loud skip without one."""
    missing = chrome_missing()
    if missing is not None:
        pytest.skip(
            f"browser test skipped: chromium/chromedriver not installed ({missing} is missing; "
            "apt-get install chromium chromium-driver, and pip install selenium)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="segsync-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-proxy-server",
        "--window-size=1280,800",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_window_size(1280, 800)
        if downloads is not None:
            driver.execute_cdp_cmd(
                "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
            )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- what the sample sheet means -----------------------------------------------------------------

#: the sample sheet's columns → segment fields
SAMPLE_FIELDS = {
    "Campaign ID": "campaignId",
    "Name": "name",
    "Code": "code",
    "Description": "description",
    "External ID": "externalIdentifier",
}
EDITABLE = ("campaignId", "name", "code", "description", "externalIdentifier")


def intended_state(seed: dict[int, dict[str, Any]], sheet: Path = SAMPLE_SHEET) -> dict[int, dict]:
    """The editable fields every segment should hold after the sample sheet is applied.

    Worked out from the sheet itself, independently of segsync: a blank cell keeps, ``#CLEAR``
    clears; rows for unknown ids, rows clearing a required field and ids given twice with
    different values change nothing.
    """
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(sheet)).get_sheet_by_name("Edits").to_python()
    header = [str(h) for h in rows[0]]
    edits: dict[int, list[dict[str, Any]]] = {}
    for raw in rows[1:]:
        cells = dict(zip(header, raw, strict=False))
        segment_id = int(float(str(cells["Segment ID"])))
        values: dict[str, Any] = {}
        for column, name in SAMPLE_FIELDS.items():
            cell = cells.get(column, "")
            if cell == "" or cell is None:
                continue
            if isinstance(cell, float):
                cell = int(cell) if name == "campaignId" else str(int(cell))
            values[name] = None if cell == "#CLEAR" else cell
        edits.setdefault(segment_id, []).append(values)
    expected = {i: {f: s[f] for f in EDITABLE} for i, s in seed.items()}
    for segment_id, versions in edits.items():
        if segment_id not in expected or any(v != versions[0] for v in versions):
            continue
        values = versions[0]
        if any(values.get(f, "x") is None for f in ("name", "code", "campaignId")):
            continue
        expected[segment_id].update(values)
    return expected


def stored_state(sandbox: Any) -> dict[int, dict[str, Any]]:
    return {s["id"]: {f: s[f] for f in EDITABLE} for s in sandbox.segments()}
