"""The dashboard's routes on the API's own aiohttp application (`/dashboard...`, registered before the API's
catch-all route by gateway/api/server.py's create_app).

- `GET /dashboard/login`, `POST /dashboard/login` (form: access_key, secret), `POST /dashboard/logout`;
- `GET /dashboard` (applications), `GET /dashboard/apps/{app}` (one application's page): HTML, served only to a
  session (otherwise 303 to the login page);
- `GET /dashboard/api/apps`, `.../apps/{app}/overview|campaigns|journeys?start=&end=`, `/dashboard/api/lag`: the
  JSON the page draws from (gateway/dashboard/data.py); 401 without a session, Pinpoint's error shape on errors;
- `GET /dashboard/static/{dashboard.js,dashboard.css}`: the page's script and style, package data.

Login takes an API access key and its secret, the keys the API verifies SigV4 with (`api.access_keys`). With
`api.auth = "none"` (loopback only, as the API) the dashboard needs no login either. Every page carries a
Content-Security-Policy allowing only its own script and style: data is put into the page as text by the script,
never as markup, and even markup slipped in could not run a script.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.resources
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import ClassVar
from urllib.parse import urlencode

import msgspec
from aiohttp import web

from gateway.api import errors
from gateway.api.services import Services
from gateway.api.sigv4 import SigV4Verifier
from gateway.config import GatewayConfig
from gateway.dashboard import session
from gateway.dashboard.data import Application, DataSource, date_range
from gateway.kpi import catalog, query
from gateway.metrics.server import OPERATION

log = logging.getLogger("gateway.dashboard")
_encode = msgspec.json.Encoder().encode
_STATIC = {"dashboard.js": "application/javascript", "dashboard.css": "text/css"}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_APPS = 1000


class NotLoggedIn(errors.ApiError):
    status = 401
    code = "UnauthorizedException"


def _page(title: str, body: str, *, script: bool = False) -> str:
    tail = '<script src="/dashboard/static/dashboard.js"></script>' if script else ""
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)} · Gateway</title>"
            '<link rel=stylesheet href="/dashboard/static/dashboard.css"></head>'
            f"<body>{body}{tail}</body></html>")


def login_page(message: str = "", next_path: str = "/dashboard") -> str:
    """The login form; `message` (escaped) says why the last attempt failed."""
    note = f'<p class=error id=login-error role=alert>{html.escape(message)}</p>' if message else ""
    return _page("Log in", (
        '<main class=login><h1>Gateway dashboard</h1>'
        "<p>Log in with an API access key and its secret (the keys in <code>api.access_keys</code>).</p>"
        f'{note}<form method=post action="/dashboard/login" id=login>'
        f'<input type=hidden name=next value="{html.escape(next_path)}">'
        '<label>Access key id <input name=access_key id=access_key autocomplete=username required></label>'
        '<label>Secret access key <input name=secret id=secret type=password autocomplete=current-password required>'
        '</label><button type=submit>Log in</button></form></main>'))


def _logout(auth: bool) -> str:
    if not auth:
        return ""
    return ('<form method=post action="/dashboard/logout" class=logout><button type=submit id=logout>Log out'
            "</button></form>")


def apps_page(apps: list[Application], auth: bool) -> str:
    """The list of applications (names escaped)."""
    items = "".join(f'<li><a href="/dashboard/apps/{html.escape(a.application_id)}">{html.escape(a.name)}</a> '
                    f"<code>{html.escape(a.application_id)}</code></li>" for a in apps)
    body = f"<ul class=apps>{items}</ul>" if items else "<p class=empty>No applications yet (CreateApp).</p>"
    return _page("Applications", f"<header><h1>Applications</h1>{_logout(auth)}</header><main>{body}</main>")


def app_page(app: Application, start: str, end: str, auth: bool) -> str:
    """One application's page: the frame the script fills from the JSON endpoints (everything escaped)."""
    a = html.escape
    return _page(app.name, (
        f'<header><a href="/dashboard">Applications</a><h1 id=app-name>{a(app.name)}</h1>'
        f'<code>{a(app.application_id)}</code>{_logout(auth)}</header>'
        f'<main id=dash data-app="{a(app.application_id)}" data-start="{a(start)}" data-end="{a(end)}">'
        '<form id=range method=get><label>From <input type=date name=start id=start></label>'
        '<label>To <input type=date name=end id=end></label><button type=submit>Show</button>'
        '<span class=hint>at most 31 days, starting fewer than 90 days ago (UTC)</span></form>'
        "<p id=notice class=error role=alert hidden></p>"
        "<section id=tiles class=tiles></section>"
        "<section><h2>Sends over time</h2><p class=hint>Final outcomes per day, every channel.</p>"
        "<div id=daily class=chart></div></section>"
        "<section><h2>Successful delivery rate</h2><div id=rate class=chart></div></section>"
        "<section><h2>Email delivery funnel</h2><div id=funnel class=chart></div></section>"
        "<section><h2>Campaigns</h2><div id=campaigns></div></section>"
        "<section><h2>Journeys</h2><div id=journeys></div></section>"
        "<section><h2>Stream lag <span class=hint>(all applications, live)</span></h2><div id=lag></div></section>"
        "</main>"), script=True)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Dashboard:
    """The dashboard over `services` (its Redis, application and campaign stores), logging in against
    `verifier`'s keys (None: no authentication, as the API). `clock` is wall-clock seconds (tests pass their own)."""

    json_routes: ClassVar[tuple[str, ...]] = ("overview", "campaigns", "journeys")

    def __init__(self, services: Services, verifier: SigV4Verifier | None, config: GatewayConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.services = services
        self.verifier = verifier
        self.events_key = services.settings.events_key
        self.rollups = services.settings.rollups  # False: no KPI is computed, so none is drawn as zero
        self.data = DataSource(services.apps.redis, services.campaigns, config)
        self.clock = clock

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/dashboard", self._html(self.index))
        r.add_get("/dashboard/", self._html(self.index))
        r.add_get("/dashboard/login", self.login_form)
        r.add_post("/dashboard/login", self.login)
        r.add_post("/dashboard/logout", self.logout)
        r.add_get("/dashboard/static/{name}", self.static)
        r.add_get("/dashboard/apps/{app}", self._html(self.app_view))
        r.add_get("/dashboard/api/apps", self._json(self.apps_json))
        r.add_get("/dashboard/api/lag", self._json(self.lag_json))
        r.add_get("/dashboard/api/apps/{app}/{view}", self._json(self.view_json))

    # -- sessions -----------------------------------------------------------------------------------------

    def _secret_of(self, access_key: str) -> str | None:
        return self.verifier.secret_of(access_key) if self.verifier is not None else None

    def _logged_in(self, request: web.Request) -> bool:
        if self.verifier is None:
            return True
        token = request.cookies.get(session.COOKIE)
        return token is not None and session.verify(token, self._secret_of, self.clock()) is not None

    def _html(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            request[OPERATION] = "Dashboard"  # /metrics counts the dashboard's requests under this name
            if not self._logged_in(request):
                target = session.safe_next(request.rel_url.path_qs)
                raise web.HTTPSeeOther("/dashboard/login?" + urlencode({"next": target}), headers=_HEADERS)
            return await handler(request)
        return wrapped

    def _json(self, handler: Callable[[web.Request], Awaitable[bytes]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            request[OPERATION] = "DashboardData"
            request_id = str(uuid.uuid4())
            try:
                if not self._logged_in(request):
                    raise NotLoggedIn("Log in at /dashboard/login: no session, or it expired")
                body = await handler(request)
            except errors.ApiError as exc:
                return self._error(exc, request_id)
            except Exception:  # Redis down, a bug: the page shows the request id, the log has the traceback
                log.exception("dashboard request %s failed", request_id)
                return self._error(errors.InternalServerError(f"Internal server error; request {request_id}"),
                                   request_id)
            return web.Response(body=body, content_type="application/json", headers=_HEADERS)
        return wrapped

    @staticmethod
    def _error(exc: errors.ApiError, request_id: str) -> web.Response:
        return web.Response(body=errors.error_body(exc, request_id), status=exc.status,
                            headers={**_HEADERS, **errors.error_headers(exc, request_id)})

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        if self.verifier is None:
            raise web.HTTPSeeOther("/dashboard")
        return self._html_response(login_page(next_path=session.safe_next(request.query.get("next"))))

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        access_key, secret = str(form.get("access_key", "")).strip(), str(form.get("secret", ""))
        next_path = session.safe_next(str(form.get("next", "")))
        if self.verifier is None:
            raise web.HTTPSeeOther(next_path)
        if not session.credentials_ok(access_key, secret, self._secret_of):
            return self._html_response(login_page("Unknown access key id or wrong secret.", next_path), status=401)
        token = session.issue(access_key, secret, self.clock())
        response = web.Response(status=303, headers={**_HEADERS, "Location": next_path})
        response.set_cookie(session.COOKIE, token, max_age=session.SESSION_TTL_S, path="/dashboard", httponly=True,
                            samesite="Strict", secure=request.secure)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(status=303, headers={**_HEADERS, "Location": "/dashboard/login"})
        response.del_cookie(session.COOKIE, path="/dashboard", secure=request.secure, httponly=True,
                            samesite="Strict")
        return response

    @staticmethod
    def _html_response(text: str, status: int = 200) -> web.Response:
        return web.Response(text=text, status=status, content_type="text/html", headers=_HEADERS)

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        kind = _STATIC.get(name)
        if kind is None:
            raise web.HTTPNotFound()
        body = importlib.resources.files("gateway.dashboard").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=kind, headers={**_HEADERS, "Cache-Control": "no-cache"})

    # -- pages and data -----------------------------------------------------------------------------------

    async def _apps(self) -> list[Application]:
        out: list[Application] = []
        token: str | None = None
        while len(out) < MAX_APPS:
            page, token = await self.services.apps.list(100, token)
            out += [Application(application_id=a.Id, name=a.Name) for a in page]
            if not token:
                break
        return out

    async def _app(self, app_id: str) -> Application:
        doc = None if "{" in app_id or "}" in app_id or len(app_id) > 256 else await self.services.apps.get(app_id)
        if doc is None:
            raise errors.NotFound(f"Application {app_id[:64]} not found")
        return Application(application_id=doc.Id, name=doc.Name)

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._html_response(apps_page(await self._apps(), self.verifier is not None))

    async def app_view(self, request: web.Request) -> web.StreamResponse:
        try:
            app = await self._app(request.match_info["app"])
        except errors.NotFound as exc:
            body = f'<main><p class=error role=alert>{html.escape(exc.message)}</p><a href="/dashboard">Applications</a></main>'
            return self._html_response(_page("Not found", body), status=404)
        q = request.query
        return self._html_response(app_page(app, q.get("start", ""), q.get("end", ""), self.verifier is not None))

    async def apps_json(self, request: web.Request) -> bytes:
        return _encode(await self._apps())

    async def lag_json(self, request: web.Request) -> bytes:
        return _encode(await self.data.lag(int(self.clock() * 1000)))

    async def view_json(self, request: web.Request) -> bytes:
        view = request.match_info["view"]
        if view not in self.json_routes:
            raise errors.NotFound(f"No dashboard data named {view[:64]!r} (overview, campaigns, journeys)")
        app = await self._app(request.match_info["app"])
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        try:
            start, end = date_range(request.query.get("start"), request.query.get("end"), now)
        except catalog.RangeError as exc:
            raise errors.BadRequest(str(exc)) from None
        if not self.rollups:
            raise errors.BadRequest(query.NOT_COMPUTED)
        if view == "overview":
            return _encode(await self.data.overview(app.application_id, app.name, start, end))
        if view == "campaigns":
            return _encode(await self.data.campaigns_of(app.application_id, start, end))
        return _encode(await self.data.journeys_of(app.application_id, start, end))
