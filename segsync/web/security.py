"""What guards every request: the app's own Host and Origin only, a signed-in session (by the
printed token URL or the password), a CSRF token on every state-changing request, and strict
security headers.

Refusals are pages with a 4xx status (403 unless said otherwise), never redirects, so a script
or a test sees them for what they are.

- **Host and Origin** (DNS rebinding, cross-site requests): the ``Host`` header must name the
  address the connection arrived on (or, on loopback, ``localhost``), with this port; an
  ``Origin`` or a ``Referer``, when sent, must be this app's; ``Sec-Fetch-Site``, when sent on a
  state-changing request, must be ``same-origin``.
- **A secret, always**: without a password, the URL ``segsync web`` prints carries a random
  token (as Jupyter's does); a visit with ``?token=`` is exchanged for a signed-in session and
  redirected to the same address without it. With ``--password-env``, the login page signs in
  (at least 12 characters; wrong passwords throttled per address, see ``throttle``). Every
  other request without a signed-in session is refused (403; with a password a page redirects
  to the login), pages and downloads alike; only ``/login`` and ``/static/`` are open.
- **Sessions**: every visitor gets a signed session cookie (``HttpOnly``, ``SameSite=Strict``,
  ``Secure`` under TLS); a session ends after ``session_hours``, or ``idle_minutes`` unused;
  see ``segsync.web.sessions``.
- **CSRF**: every POST carries the session's token in a ``csrf_token`` form field. The upload
  form is streamed, so its handler checks the token itself, before the file (``uploads``).
- **Headers**: a Content-Security-Policy with no inline script or style and
  ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: same-origin`` (not ``no-referrer``: with it, browsers send ``Origin: null``
  on form posts), ``Cache-Control: no-store`` on everything but static files, and
  ``Strict-Transport-Security`` under TLS.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import unicodedata
from collections.abc import Awaitable, Callable
from urllib.parse import quote, unquote, urlencode, urlsplit

from aiohttp import web

from segsync.secrets import is_loopback
from segsync.web.responses import SESSION, page, refusal, see_other, session_id
from segsync.web.sessions import COOKIE_NAME, CSRF_FIELD, TOKEN_PARAM
from segsync.web.state import STATE, WebState

log = logging.getLogger("segsync.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: paths open before a login (the login page itself and the styles it needs)
OPEN_PATHS = ("/login", "/static/")
#: a year: browsers that saw the page over TLS never try it over plain HTTP (no
#: ``includeSubDomains``: the host may be a name the organisation uses for other things)
HSTS_MAX_AGE_S = 365 * 24 * 3600
#: the route whose handler checks the CSRF token itself (a streamed multipart form)
STREAMED_ROUTES = frozenset({"upload"})


def allowed_hosts(request: web.Request, state: WebState) -> set[str]:
    """The ``Host`` values that name this app: the address the connection arrived on."""
    names: set[str] = set()
    port = state.options.port
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    if sock:
        ip, port = str(sock[0]), int(sock[1])
        names.add(_literal(ip))
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            address = None
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            names.add(str(mapped))
        if is_loopback(ip) or (mapped is not None and mapped.is_loopback):
            names |= {"localhost", "127.0.0.1", "[::1]"}
    host = state.options.host.strip().lower()
    if host not in ("", "0.0.0.0", "::", "[::]"):
        names.add(_literal(host))
    hosts = {f"{name}:{port}" for name in names}
    if port == (443 if state.options.tls else 80):
        hosts |= names
    return hosts


def _literal(host: str) -> str:
    host = host.lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def foreign_request(request: web.Request, state: WebState) -> str | None:
    """Why the request does not come from this app's own pages (None when it does)."""
    hosts = allowed_hosts(request, state)
    host = (request.headers.get("Host") or "").strip().lower()
    if host not in hosts:
        return f"it was addressed to '{host or '(no Host)'}', not to this app"
    origins = {f"{state.options.scheme}://{h}" for h in hosts}
    origin = request.headers.get("Origin")
    if origin is not None and origin.strip().lower() not in origins:
        return f"it came from the page of another site ({origin.strip()[:100]})"
    unsafe = request.method not in SAFE_METHODS
    referer = request.headers.get("Referer")
    if unsafe and origin is None and referer:
        parts = urlsplit(referer)
        if f"{parts.scheme}://{parts.netloc}".lower() not in origins:
            return "it came from the page of another site"
    site = request.headers.get("Sec-Fetch-Site")
    if unsafe and site is not None and site not in ("same-origin", "none"):
        return f"the browser says it came from a {site} page"
    return None


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413 ...) as pages, with their status."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        title = {404: "Not found", 405: "Not allowed", 413: "Too large"}.get(exc.status, exc.reason)
        message = {
            404: "There is no such page here (a preview or run may have expired).",
            405: "This address does not take that kind of request.",
            413: "The request was larger than this app accepts.",
        }.get(exc.status, exc.reason)
        response = await refusal(request, exc.status, title, message)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host/Origin, the printed token, session, sign-in and CSRF, in that order; see the
    module docstring."""
    state = request.app[STATE]
    why = foreign_request(request, state)
    if why is not None:
        log.warning("refused %s %s: %s", request.method, request.path, why)
        return await refusal(
            request, 403, "Refused", f"This request was refused because {why}; nothing was done."
        )
    if state.gate.token is not None and TOKEN_PARAM in request.query:
        return await _token_sign_in(request, state)
    sid = state.codec.read(request.cookies.get(COOKIE_NAME))
    fresh: str | None = None
    if sid is None:
        sid, fresh = state.codec.new()
    request[SESSION] = sid
    unsafe = request.method not in SAFE_METHODS
    if unsafe and fresh is not None:
        return await refusal(
            request,
            403,
            "Refused",
            "Your session has expired (or cookies are blocked): nothing was done. Reload the "
            "page and try again.",
        )
    if not request.path.startswith(OPEN_PATHS) and not state.gate.allows(sid):
        if unsafe:
            response: web.StreamResponse = await refusal(
                request, 403, "Refused", "Sign in first; nothing was done."
            )
        elif state.gate.password_mode:
            response = see_other(f"/login?next={_next_param(request)}")
        else:
            response = await token_needed(request)
        return _with_cookie(response, fresh, state)
    if unsafe and _route_name(request) not in STREAMED_ROUTES:
        form = await request.post()
        token = form.get(CSRF_FIELD)
        if not state.codec.check_csrf(sid, token if isinstance(token, str) else None):
            return await refusal(
                request,
                403,
                "Refused",
                "The form did not carry this page's security token (it may be from an old "
                "page, or from another site); nothing was done. Reload the page and try again.",
            )
    response = await handler(request)
    return _with_cookie(response, fresh, state)


async def token_needed(request: web.Request) -> web.Response:
    """The refusal of a visitor without a session when the page signs in by the printed URL."""
    return await refusal(
        request,
        403,
        "Open the address segsync printed",
        "This page needs the secret address that 'segsync web' printed when it started (it "
        "ends in ?token=...). Open that address again, from the terminal or the service's log; "
        "a session also ends after a while without use. Nothing was done.",
    )


async def _token_sign_in(request: web.Request, state: WebState) -> web.StreamResponse:
    """``?token=``: a new session for the right token, then the same address without it."""
    address = request.remote
    wait = state.gate.throttle.wait_s(address)
    given = request.query.get(TOKEN_PARAM, "")
    if wait > 0:
        return await refusal(
            request,
            429,
            "Too many wrong addresses",
            f"Too many wrong tokens came from your address: wait {math.ceil(wait)} s, then open "
            "the address segsync web printed. Nothing was done.",
        )
    if request.method not in SAFE_METHODS or not state.gate.check_token(given):
        state.gate.throttle.failed(address)
        log.warning("refused a sign-in with a wrong token from %s", address)
        return await refusal(
            request,
            403,
            "This address is out of date",
            "The token in this address is not this page's (a new one is made each time "
            "'segsync web' starts): open the address it printed when it started last. Nothing "
            "was done.",
        )
    state.gate.throttle.succeeded(address)
    state.gate.sign_out(state.codec.read(request.cookies.get(COOKIE_NAME)))
    sid, cookie = state.codec.new()  # a new session id at sign-in: no fixation
    state.gate.sign_in(sid)
    rest = [(k, v) for k, v in request.query.items() if k != TOKEN_PARAM]
    target = request.path + (f"?{urlencode(rest)}" if rest else "")
    response = see_other(safe_next(target))
    set_session_cookie(response, cookie, state)
    return response


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    return route.name if route is not None else None


def _next_param(request: web.Request) -> str:
    return quote(request.path_qs, safe="")


def _with_cookie(
    response: web.StreamResponse, cookie: str | None, state: WebState
) -> web.StreamResponse:
    if cookie is not None:
        set_session_cookie(response, cookie, state)
    return response


def set_session_cookie(response: web.StreamResponse, cookie: str, state: WebState) -> None:
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(state.codec.lifetime_s),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=state.options.tls,
    )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the same headers on every response (pages, files, errors)."""
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    if request.app[STATE].options.tls:
        headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_S}"


# -- the login (only with --password-env) ------------------------------------------------------


def safe_next(value: str | None) -> str:
    """A path on this app to go to after the login (never another site).

    Only an absolute path: no scheme, no host, no ``//`` or backslash (which browsers read as
    a host), and no whitespace or control character anywhere, decoded or not (a tab in
    ``/<TAB>/evil.example`` is dropped by browsers, leaving ``//evil.example``).
    """
    if not value or len(value) > 2000:
        return "/"
    for text in (value, unquote(value)):
        if not text.startswith("/") or text.startswith("//") or "\\" in text:
            return "/"
        if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in text):
            return "/"
        parts = urlsplit(text)
        if parts.scheme or parts.netloc:
            return "/"
    return value


async def login_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if not state.gate.password_mode:
        if state.gate.allows(session_id(request)):
            return see_other("/")
        return await token_needed(request)
    return await page(request, "login.html", next=safe_next(request.query.get("next")))


async def login_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if not state.gate.password_mode:
        return await token_needed(request)
    form = await request.post()
    target = safe_next(str(form.get("next") or ""))
    address = request.remote
    wait = state.gate.throttle.wait_s(address)
    if wait > 0:
        return await page(
            request,
            "login.html",
            status=429,
            next=target,
            error=f"Too many wrong passwords from your address: wait {wait_words(wait)}, then "
            "try again.",
        )
    password = form.get("password")
    if not isinstance(password, str) or not state.gate.check(password):
        state.gate.throttle.failed(address)
        log.warning("wrong password for the web page from %s", address)
        return await page(
            request, "login.html", status=403, next=target, error="That password is not right."
        )
    state.gate.throttle.succeeded(address)
    state.gate.sign_out(session_id(request))
    sid, cookie = state.codec.new()  # a new session id at login: no fixation
    state.gate.sign_in(sid)
    response = see_other(target)
    set_session_cookie(response, cookie, state)
    return response


def wait_words(seconds: float) -> str:
    """A throttled sign-in's wait as people read it (``3 seconds``, ``5 minutes``)."""
    whole = max(1, math.ceil(seconds))
    if whole < 90:
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{math.ceil(whole / 60)} minutes"


async def logout(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.gate.sign_out(session_id(request))
    response = see_other("/login")
    response.del_cookie(COOKIE_NAME, path="/")
    return response
