"""What the web app refuses, and what never leaves it: each refusal is a 403 (or its own 4xx)
page, not a redirect; the API token is in no body or header; every value is escaped."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from segsync.input.limits import MB
from segsync.sandbox import Sandbox
from segsync.web.command import web as web_command
from segsync.web.options import WebOptions
from tests.conftest import MakeSandbox
from tests.helpers import settings_for, write_xlsx
from tests.web_helpers import csrf_of, hook_count, hook_text, run, web_client

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_security_headers_on_every_response(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            for path in ("/", "/runs", "/static/report.css", "/nowhere"):
                response = await web.get(path)
                csp = response.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
                assert "unsafe-inline" not in csp and "default-src 'none'" in csp
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                assert response.headers["X-Frame-Options"] == "DENY"

    run(body())


def test_state_changing_requests_need_the_csrf_token(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview()
            token = await web.token()
            for path in (f"{preview}/apply", f"{preview}/sheet", "/runs/x/rollback", "/logout"):
                for form in ({}, {"csrf_token": "forged"}, {"csrf_token": token + "x"}):
                    response = await web.send(path, data=form, allow_redirects=False)
                    assert response.status == 403, (path, form)
                    assert hook_count(await response.text(), "refusal") == 1
            upload = await web.upload(token=None)
            assert upload.status == 403
            plain = await web.send("/upload", {"csrf_token": token, "edits": "id\n1\n"})
            assert plain.status == 403  # not the multipart upload form
            long = await web.upload(token="x" * 100_000)
            assert long.status == 403
            forged = await web.upload(token="forged")
            assert forged.status == 403
            # another visitor's token is not this visitor's
            async with web_client(settings_for(sandbox, tmp_path)) as other:
                theirs = await other.token()
            response = await web.send(f"{preview}/apply", data={"csrf_token": theirs})
            assert response.status == 403
            state = web.state
            assert list(state.uploads_dir.iterdir()) == []
        assert sandbox.counters.snapshot().count("PUT") == 0

    run(body())


def test_a_post_without_a_session_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            token = await web.token()
            web.client.session.cookie_jar.clear()
            response = await web.send("/runs/x/rollback", data={"csrf_token": token})
            assert response.status == 403
            # refused as session-less before the token is even read (not as a bad token)
            page = await response.text()
            assert hook_count(page, "refusal") == 1 and "Your session has expired" in page

    run(body())


def test_foreign_host_or_origin_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            port = web.port
            token = await web.token()
            for headers in (
                {"Host": "evil.example"},
                {"Host": f"evil.example:{port}"},
                {"Host": f"127.0.0.1:{port + 1}"},
                {"Origin": "http://evil.example"},
                {"Origin": "null"},
            ):
                response = await web.get("/", headers=headers, allow_redirects=False)
                assert response.status == 403, headers
                assert "Set-Cookie" not in response.headers
            for headers in (
                {"Origin": "http://evil.example"},
                {"Origin": f"http://localhost.evil.example:{port}"},
                {"Referer": "http://evil.example/page"},
                {"Sec-Fetch-Site": "cross-site"},
            ):
                response = await web.send("/logout", {"csrf_token": token}, headers=headers)
                assert response.status == 403, headers
            for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
                ok = await web.get("/", headers={"Host": host})
                assert ok.status == 200
            same = await web.send(
                "/logout",
                data={"csrf_token": token},
                headers={"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
                allow_redirects=False,
            )
            assert same.status == 303

    run(body())


def test_an_oversized_upload_is_refused_with_a_page(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    settings = settings_for(sandbox, tmp_path, **{"input.max_file_mb": 0.05})

    async def body() -> None:
        async with web_client(settings) as web:
            big = b"id,name\n" + b"100001,x\n" * int(0.1 * MB / 9)
            response = await web.upload(name="big.csv", content=big)
            page = await response.text()
            assert response.status == 413
            assert "0.05 MB limit" in hook_text(page, "file-problem")
            state = web.state
            assert list(state.uploads_dir.iterdir()) == []
        assert sandbox.counters.snapshot().total == 0

    run(body())


def test_the_token_reaches_no_response(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    token = "tok_" + "S3cr3tT0k3n" * 4
    sandbox = make_sandbox(token=token)
    seen: list[bytes] = []

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview()
            await web.page(preview)
            await web.page(f"{preview}/apply")
            await web.get(f"{preview}/workbook")
            job, status = await web.run(preview)
            await web.page(job)
            await web.get(f"/runs/{status['run_id']}/results")
            await web.get(f"/runs/{status['run_id']}/report")
            await web.page("/runs")
            await web.get("/static/report.css")
            await web.get("/nowhere")
            seen.extend(web.seen)

    run(body())
    assert len(seen) > 20 and any(b"xl/worksheets" in d or b"<worksheet" in d for d in seen)
    for data in seen:
        assert token.encode() not in data


def test_values_from_the_sheet_and_the_api_are_escaped(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.modify(100003, name=HOSTILE)
    sheet = write_xlsx(
        tmp_path / "hostile.xlsx",
        ["id", "name", "description", HOSTILE],
        [[100001, HOSTILE, "ok", HOSTILE], [100003, None, HOSTILE, "x"], [999999, HOSTILE, "", ""]],
    )

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview(sheet, name=f"{HOSTILE}.xlsx")
            pages = [await web.page(preview), await web.page(f"{preview}/apply")]
            job, _ = await web.run(preview)
            pages += [await web.page(job), await web.page("/runs")]
            bad = await web.upload(name=f"{HOSTILE}.pdf", content=b"%PDF-1.4")
            pages.append(await bad.text())
            for page in pages:
                assert "<script>alert" not in page and "<img src=x" not in page
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[0]

    run(body())


def test_login_is_required_when_a_password_is_set(sandbox: Sandbox, tmp_path: Path) -> None:
    options = WebOptions(password="correct horse battery staple")

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path), options) as web:
            response = await web.get("/", allow_redirects=False)
            assert response.status == 303 and response.headers["Location"].startswith("/login")
            assert (await web.get("/runs/x/results", allow_redirects=False)).status == 303
            login = await web.page("/login?next=%2Fruns")
            token = csrf_of(login)
            refused = await web.send("/runs/x/rollback", data={"csrf_token": token})
            assert refused.status == 403  # not signed in
            wrong = await web.send(
                "/login",
                data={"csrf_token": token, "password": "wrong", "next": "/runs"},
                allow_redirects=False,
            )
            assert wrong.status == 403 and "not right" in await wrong.text()
            no_token = await web.send("/login", data={"password": options.password or ""})
            assert no_token.status == 403
            before = web.client.session.cookie_jar.filter_cookies(web.client.make_url("/"))
            ok = await web.send(
                "/login",
                data={"csrf_token": token, "password": options.password or "", "next": "//evil"},
                allow_redirects=False,
            )
            assert ok.status == 303 and ok.headers["Location"] == "/"
            cookie = ok.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            after = web.client.session.cookie_jar.filter_cookies(web.client.make_url("/"))
            assert before["segsync_session"].value != after["segsync_session"].value
            assert hook_count(await web.page("/"), "upload") == 1
            out = await web.post("/logout")
            assert out.status == 303
            again = await web.get("/", allow_redirects=False)
            assert again.status == 303

    run(body())


def test_the_command_refuses_a_public_host_without_a_password(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(web_command, ["--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "--password-env" in result.output and "0.0.0.0" in result.output
    result = runner.invoke(
        web_command, ["--host", "0.0.0.0", "--password-env", "SEGSYNC_TEST_NO_SUCH_VAR"]
    )
    assert result.exit_code == 2
    assert "SEGSYNC_TEST_NO_SUCH_VAR" in result.output
