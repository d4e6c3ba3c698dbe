"""The dashboard's routes: sign-in and sign-out, the Clients page, and the JSON API.

Each route reads the request, calls the use cases in ``acchub_mailbot.app`` and renders; who may
see what is decided in ``app.access``. Without a session, a page redirects to sign-in and an API
call answers 401. Database work runs in Starlette's thread pool, never on the event loop.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from acchub_mailbot import paths
from acchub_mailbot.app import access, tokens, websessions
from acchub_mailbot.app.clients import STATUSES
from acchub_mailbot.app.runtime import App
from acchub_mailbot.errors import NotFound
from acchub_mailbot.web.security import SecurityHeaders, same_token

LOGIN_CSRF_COOKIE = "acchub_login_csrf"


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths.templates_dir() / "web"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


class Dashboard:
    """The routes, bound to one application."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.web = app.settings.web
        self.templates = _templates()
        self.cookie = "__Host-acchub_session" if self.web.https else "acchub_session"

    # -- helpers ----------------------------------------------------------------------------

    def _address(self, request: Request) -> str | None:
        """The client's address; X-Forwarded-For only from a trusted proxy (its last hop)."""
        peer = request.client.host if request.client else None
        forwarded = request.headers.get("x-forwarded-for")
        if peer in self.web.trusted_proxies and forwarded:
            return forwarded.split(",")[-1].strip() or peer
        return peer

    def _page(self, name: str, code: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**values)
        return HTMLResponse(html, status_code=code)

    def _expired(self) -> Response:
        """A form whose CSRF token is missing or wrong: refused, and nothing done."""
        return self._page(
            "error.html.j2", 403, who=None, message="The form expired. Sign in again."
        )

    def _set_cookie(self, response: Response, key: str, value: str, max_age: int) -> None:
        response.set_cookie(
            key, value, max_age=max_age, path="/", secure=self.web.https, httponly=True,
            samesite="lax",
        )  # fmt: skip

    async def _signed_in(self, request: Request) -> websessions.SignedIn | None:
        return await run_in_threadpool(
            websessions.current, self.app, request.cookies.get(self.cookie)
        )

    # -- routes -----------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/clients", status_code=303)

    async def login_form(self, request: Request) -> Response:
        if await self._signed_in(request) is not None:
            return RedirectResponse("/clients", status_code=303)
        return self._login_page(request, error=None, status=200)

    def _login_page(self, request: Request, *, error: str | None, status: int) -> Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = self._page("login.html.j2", status, csrf=token, error=error, who=None)
        self._set_cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get("csrf", ""))):
            return self._expired()
        try:
            started = await run_in_threadpool(
                websessions.sign_in,
                self.app,
                str(form.get("email", "")),
                str(form.get("password", "")),
                address=self._address(request),
                user_agent=request.headers.get("user-agent"),
            )
        except websessions.Throttled as exc:
            response = self._login_page(request, error=str(exc), status=429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if started is None:
            return self._login_page(request, error="Wrong email or password.", status=401)
        token, _who = started
        response = RedirectResponse("/clients", status_code=303)
        self._set_cookie(response, self.cookie, token, self.web.session_absolute_hours * 3600)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    async def logout(self, request: Request) -> Response:
        who = await self._signed_in(request)
        form = await request.form()
        if who is None or not same_token(who.csrf, str(form.get("csrf", ""))):
            return self._expired()
        await run_in_threadpool(websessions.sign_out, self.app, request.cookies.get(self.cookie))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(self.cookie, path="/", secure=self.web.https, httponly=True)
        return response

    async def clients_page(self, request: Request) -> Response:
        who = await self._signed_in(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        status = request.query_params.get("status") or None
        if status not in (None, *STATUSES):
            status = None
        items = await run_in_threadpool(access.clients_for, self.app, who, status=status)
        return self._page(
            "clients.html.j2", who=who, clients=items, statuses=STATUSES, status=status
        )

    # -- the API ----------------------------------------------------------------------------

    async def _caller(self, request: Request) -> access.Viewer | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential:
            return await run_in_threadpool(tokens.bearer, self.app, credential.strip())
        return await self._signed_in(request)

    async def api_clients(self, request: Request) -> Response:
        caller = await self._caller(request)
        if caller is None:
            return _unauthorized()
        status = request.query_params.get("status") or None
        if status not in (None, *STATUSES):
            return JSONResponse({"error": f"status must be one of {', '.join(STATUSES)}"}, 400)
        items = await run_in_threadpool(
            access.clients_for,
            self.app,
            caller,
            status=status,
            owner=request.query_params.get("owner") or None,
        )
        return JSONResponse(items)

    async def api_client(self, request: Request) -> Response:
        caller = await self._caller(request)
        if caller is None:
            return _unauthorized()
        ref = str(request.path_params["client_id"])
        try:
            card = await run_in_threadpool(access.client_for, self.app, caller, ref)
        except NotFound:
            return JSONResponse({"error": f"no client {ref}"}, 404)
        return JSONResponse(card)


def _unauthorized() -> Response:
    return JSONResponse(
        {"error": "sign in, or send a token as Authorization: Bearer"},
        401,
        headers={"WWW-Authenticate": 'Bearer realm="acchub-mailbot"'},
    )


Endpoint = Callable[[Request], Awaitable[Response]]


def create_web(app: App) -> Starlette:
    """The dashboard as an ASGI application over an open ``App``."""
    board = Dashboard(app)
    routes = [
        Route("/healthz", board.healthz),
        Route("/", board.home),
        Route("/login", board.login_form, methods=["GET"]),
        Route("/login", board.login, methods=["POST"]),
        Route("/logout", board.logout, methods=["POST"]),
        Route("/clients", board.clients_page),
        Route("/api/clients", board.api_clients),
        Route("/api/clients/{client_id:int}", board.api_client),
        Mount("/static", StaticFiles(directory=paths.templates_dir() / "web" / "static")),
    ]
    return Starlette(
        routes=routes, middleware=[Middleware(SecurityHeaders, https=app.settings.web.https)]
    )
