"""Every state-changing route of the web app refuses a request without this page's CSRF token,
or from another site, and the list of routes comes from the app's own router: a POST route
added later is covered without anyone remembering to list it here.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import MultipartWriter, web

from segsync.sandbox import Sandbox
from segsync.web import create_app
from tests.helpers import settings_for
from tests.web_helpers import WebSession, hook_count, run, web_client

#: what the guard (or the streamed upload's own check) says when the token is missing or wrong
NO_TOKEN = "security token"
SAFE = {"GET", "HEAD", "OPTIONS"}


def state_changing_paths(app: web.Application) -> list[str]:
    """Each non-GET route's path, with every ``{placeholder}`` filled with a made-up value."""
    paths = []
    for route in app.router.routes():
        if route.method in SAFE or route.resource is None:
            continue
        info = route.resource.get_info()
        template = str(info.get("path") or info.get("formatter"))
        paths.append((route.method, re.sub(r"\{(\w+)[^}]*\}", r"made-up-\1", template)))
    assert len({p for _, p in paths}) == len(paths)
    return [p for m, p in sorted(paths) if m == "POST"] + [p for m, p in paths if m != "POST"]


def form(token: str | None) -> MultipartWriter:
    """Multipart, as the upload form sends it; the guard reads it like a urlencoded form.

    Built with ``MultipartWriter`` rather than ``FormData(default_to_multipart=True)``, which the
    lowest aiohttp this project supports (3.10) does not have."""
    data = MultipartWriter("form-data")
    if token is not None:
        data.append(token).set_content_disposition("form-data", name="csrf_token")
    return data


async def refused(web_session: WebSession, path: str, **kw: object) -> str:
    response = await web_session.send(path, **kw)  # type: ignore[arg-type]
    text = await response.text()
    assert response.status == 403, (path, kw, response.status, text[:300])
    assert hook_count(text, "refusal") == 1, path
    return text


def test_the_router_list_is_what_the_app_serves(sandbox: Sandbox, tmp_path: Path) -> None:
    paths = state_changing_paths(create_app(settings_for(sandbox, tmp_path)))
    # a sanity check on the discovery itself, not the list the test runs on
    assert "/jobs/made-up-jid/stop" in paths and "/upload" in paths and "/logout" in paths


def test_every_state_changing_route_needs_the_token_and_this_origin(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as session:
            port = session.port
            for path in state_changing_paths(session.app):
                await session.sign_in()  # again: the control request to /logout signed out
                token = await session.token()
                for data in (None, "", "forged", token + "x"):
                    text = await refused(session, path, data=form(data))
                    assert NO_TOKEN in text, (path, data)
                # the right token, sent from another site's page
                foreign = (
                    {"Origin": "http://evil.example"},
                    {"Referer": "http://evil.example/page"},
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Host": "evil.example"},
                )
                for headers in foreign:
                    text = await refused(session, path, data=form(token), headers=headers)
                    assert NO_TOKEN not in text and "refused because" in text, (path, headers)
                # control: the same request from this app's page gets past the guard, so the
                # refusals above were the guard's and not, say, a 404 of the made-up id
                ok = await session.send(
                    path,
                    data=form(token),
                    headers={"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
                )
                assert NO_TOKEN not in await ok.text(), path
                assert "refused because" not in await ok.text(), path
            assert list(session.state.uploads_dir.iterdir()) == []
        assert sandbox.counters.snapshot().count("PUT") == 0

    run(body())
