"""Who gets in: the printed token URL (no password), the password with its throttle, session
expiry by idleness, the ``next`` after a login, and HSTS under TLS."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from segsync.errors import ConfigError
from segsync.sandbox import Sandbox
from segsync.web import WebOptions, create_app
from segsync.web.security import safe_next
from segsync.web.server import serve_in_thread
from segsync.web.sessions import Gate
from segsync.web.throttle import FREE_FAILURES, GLOBAL_CEILING, LoginThrottle, address_key
from tests.helpers import settings_for
from tests.web_helpers import WebSession, csrf_of, run, web_client

PASSWORD = "correct horse battery staple"


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


# -- the printed token URL -----------------------------------------------------------------------


def test_without_the_token_every_page_and_download_is_refused(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A real preview, run and results exist (made by the signed-in visitor); a second visitor
    on the same loopback address, without the token, gets 403 for every route of the app
    (taken from its router, so a route added later is covered too), and none of their
    content."""

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview()
            job, status = await web.run(preview)
            assert status["state"] == "finished"
            ids = {
                "pid": preview.rsplit("/", 1)[-1],
                "jid": job.rsplit("/", 1)[-1],
                "run_id": str(status["run_id"]),
                # the column-mapping pages of an upload (none kept: the guard answers first)
                "uid": "an-upload",
            }
            mine = await web.get(f"/runs/{ids['run_id']}/results")
            assert mine.status == 200  # the signed-in visitor may
            stranger = WebSession(web.client, web.app)
            web.client.session.cookie_jar.clear()
            checked = 0
            for route in web.app.router.routes():
                info = route.resource.get_info() if route.resource else {}
                path = info.get("path") or info.get("formatter")
                if path is None or path.startswith("/static/"):
                    continue
                url = fill(path, ids)
                if route.method == "GET":
                    response = await stranger.get(url, allow_redirects=False)
                elif route.method == "POST":
                    response = await stranger.send(url, {"csrf_token": "x", "confirm": "8"})
                else:
                    continue
                text = await response.text()
                assert response.status == 403, (route.method, url, response.status)
                assert "Set-Cookie" not in response.headers or "segsync_session" in str(
                    response.headers.get("Set-Cookie")
                )
                assert ids["run_id"] not in text and "Updated" not in text, url
                checked += 1
            assert checked >= 15
            home = await stranger.get("/")
            assert "Open the address segsync printed" in await home.text()
            assert sandbox.counters.snapshot().count("PUT") == 8  # the one run, nothing more

    run(body())


def test_the_printed_url_signs_in_once_and_leaves_the_address_bar(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path), sign_in=False) as web:
            token = web.state.gate.token
            assert token and len(token) >= 40
            assert web.printed_url.endswith(f"/?token={token}")
            wrong = await web.get(f"/?token={token[:-2]}xx", allow_redirects=False)
            assert wrong.status == 403 and "out of date" in await wrong.text()
            assert (await web.get("/", allow_redirects=False)).status == 403
            signed = await web.sign_in()
            assert signed.headers["Location"] == "/"  # the token leaves the address bar
            cookie = signed.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            home = await web.get("/", allow_redirects=False)
            assert home.status == 200 and token not in await home.text()
            # another path keeps its own query, without the token
            deep = await web.get(f"/runs?token={token}&x=1", allow_redirects=False)
            assert deep.status == 303 and deep.headers["Location"] == "/runs?x=1"
            # signing out ends the session; the printed URL signs in again (as Jupyter's)
            assert (await web.post("/logout")).status == 303
            assert (await web.get("/", allow_redirects=False)).status == 403
            await web.sign_in()
            assert (await web.get("/", allow_redirects=False)).status == 200
            assert not any(token.encode() in seen for seen in web.seen)

    run(body())


def test_a_session_ends_after_the_idle_timeout(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        options = WebOptions(idle_minutes=30)
        async with web_client(settings_for(sandbox, tmp_path), options) as web:
            clock = Clock()
            web.state.gate._clock = clock  # the gate's clock, moved by hand
            await web.sign_in()
            clock.now += 29 * 60
            assert (await web.get("/", allow_redirects=False)).status == 200
            clock.now += 29 * 60  # 58 minutes since sign-in, but used 29 minutes ago
            assert (await web.get("/", allow_redirects=False)).status == 200
            clock.now += 31 * 60
            refused = await web.get("/", allow_redirects=False)
            assert refused.status == 403 and "without use" in await refused.text()

    run(body())


# -- the password --------------------------------------------------------------------------------


def test_a_short_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 12"):
        Gate("open sesame", 3600)
    assert Gate(PASSWORD, 3600).password_mode


def test_wrong_passwords_slow_one_address_down_but_never_lock_out_another(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The review's attack: 200 wrong passwords at once. The guessing address waits longer and
    longer; the right password from another address (127.0.0.2) still signs in at once."""

    async def login(web: WebSession, session: aiohttp.ClientSession, password: str) -> Any:
        url = web.client.make_url("/login")
        page = await session.get(url)
        token = csrf_of(await page.text())
        return await session.post(
            url, data={"csrf_token": token, "password": password}, allow_redirects=False
        )

    async def body() -> None:
        options = WebOptions(password=PASSWORD)
        async with web_client(settings_for(sandbox, tmp_path), options) as web:
            session = web.client.session
            statuses = [(await login(web, session, "wrong")).status for _ in range(200)]
            assert statuses[: FREE_FAILURES + 1] == [403] * (FREE_FAILURES + 1)
            assert set(statuses[FREE_FAILURES + 1 :]) == {429}
            waited = await login(web, session, PASSWORD)
            assert waited.status == 429  # even the right one waits here
            assert "wait 1 second" in await waited.text()
            other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
            jar = aiohttp.CookieJar(unsafe=True)  # cookies of an IP address host
            async with aiohttp.ClientSession(connector=other, cookie_jar=jar) as elsewhere:
                ok = await login(web, elsewhere, PASSWORD)
                assert ok.status == 303, await ok.text()

    run(body())


def test_the_delays_grow_and_the_global_ceiling_spares_clean_addresses() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    waits = []
    for _ in range(FREE_FAILURES + 5):
        assert throttle.wait_s("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
        waits.append(throttle.wait_s("10.0.0.1"))
        clock.now += waits[-1]
    assert waits == [0.0] * FREE_FAILURES + [1.0, 2.0, 4.0, 8.0, 16.0]
    throttle.succeeded("10.0.0.1")
    assert throttle.wait_s("10.0.0.1") == 0
    # many addresses guessing at once fill the global ceiling
    for n in range(GLOBAL_CEILING):
        throttle.failed(f"10.1.{n // 250}.{n % 250}")
    assert throttle.wait_s("10.1.0.1") > 0  # one of the guessers: held back
    assert throttle.wait_s("192.0.2.7") == 0  # a clean address may always try
    clock.now += 61
    assert throttle.wait_s("10.1.0.1") == 0
    # IPv6 addresses count by their /64
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"


# -- next, and HSTS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "/\t/evil.example",
        "/%09/evil.example",
        "/ /evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/%2F/evil.example",
        "\\\\evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example",
        "/\u2028/evil.example",
    ],
)
def test_next_never_leaves_the_app(value: str) -> None:
    assert safe_next(value) == "/"


def test_next_keeps_a_path_of_the_app() -> None:
    assert safe_next("/runs?x=1") == "/runs?x=1"
    assert safe_next("/previews/abc_-1/apply") == "/previews/abc_-1/apply"


def test_hsts_is_sent_under_tls(sandbox: Sandbox, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("SKIPPED: openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    keys = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
    subprocess.run(
        ["openssl", "req", "-x509", *keys, *subject, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    options = WebOptions(port=0, password=PASSWORD, tls_cert=cert, tls_key=key)
    app = create_app(settings_for(sandbox, tmp_path), options)
    with serve_in_thread(app, options) as url:
        assert url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trusted, trust_env=False, timeout=30) as client:
            response = client.get(url + "/login")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Secure" in response.headers["Set-Cookie"]


def test_the_command_refuses_a_short_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from segsync.web.command import web as web_command

    monkeypatch.setenv("SEGSYNC_TEST_SHORT_PASSWORD", "hunter2")
    result = CliRunner().invoke(
        web_command, ["--port", "0", "--password-env", "SEGSYNC_TEST_SHORT_PASSWORD"]
    )
    assert result.exit_code == 2
    assert "is 7 characters long; it must have at least 12" in result.output
    assert "hunter2" not in result.output
