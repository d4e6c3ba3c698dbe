"""Signing in and out (with a password, or through the single sign-on provider of
``web.oidc``), and the unauthenticated health check."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from acchub_mailbot.app import singlesignon, websessions
from acchub_mailbot.core.oidcflow import CALLBACK_PATH
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.web.board import Board
from acchub_mailbot.web.security import same_token

LOGIN_CSRF_COOKIE = "acchub_login_csrf"
#: The single sign-on flow's secrets, sent only to its own two routes: the start, and the
#: callback below it.
FLOW_COOKIE = "acchub_oidc_flow"
FLOW_PATH = CALLBACK_PATH.rsplit("/", 1)[0]


def routes(board: Board) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def home(request: Request) -> Response:
        return RedirectResponse("/clients", status_code=303)

    def login_page(request: Request, *, error: str | None, status: int) -> Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = board.page(
            "login.html.j2", status, csrf=token, error=error, sso=singlesignon.label(board.app)
        )
        board.set_cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
        return response

    async def login_form(request: Request) -> Response:
        if await board.signed_in(request) is not None:
            return RedirectResponse("/clients", status_code=303)
        return login_page(request, error=None, status=200)

    async def login(request: Request) -> Response:
        form = await request.form()
        if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get("csrf", ""))):
            return board.expired()
        try:
            started = await board.call(
                websessions.sign_in,
                str(form.get("email", "")),
                str(form.get("password", "")),
                address=board.address(request),
                user_agent=request.headers.get("user-agent"),
            )
        except websessions.Throttled as exc:
            error = board.gettext(
                "Too many wrong sign-ins. Try again in %(minutes)d minute(s)."
            ) % {"minutes": exc.minutes}
            response = login_page(request, error=error, status=429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if started is None:
            return login_page(request, error=board.gettext("Wrong email or password."), status=401)
        token, _who = started
        return signed_in(token)

    def signed_in(token: str) -> Response:
        response = RedirectResponse("/clients", status_code=303)
        board.set_cookie(response, board.cookie, token, board.web.session_absolute_hours * 3600)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    async def sso_start(request: Request) -> Response:
        try:
            url, flow = await board.call(singlesignon.begin)
        except NotFound:
            return board.not_found(None)
        except Refused as exc:
            return login_page(request, error=sign_on_failed(exc), status=502)
        response = RedirectResponse(url, status_code=303)
        board.set_cookie(response, FLOW_COOKIE, flow, singlesignon.FLOW_SECONDS, path=FLOW_PATH)
        return response

    async def sso_callback(request: Request) -> Response:
        params = request.query_params
        try:
            started = await board.call(
                singlesignon.finish, code=params.get("code"), state=params.get("state"),
                error=params.get("error"), cookie=request.cookies.get(FLOW_COOKIE),
                address=board.address(request), user_agent=request.headers.get("user-agent"),
            )  # fmt: skip
        except NotFound:
            return board.not_found(None)
        except Refused as exc:
            response = login_page(request, error=sign_on_failed(exc), status=401)
        else:
            response = signed_in(started[0])
        response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)  # one answer per flow
        return response

    def sign_on_failed(exc: Exception) -> str:
        return board.gettext("Single sign-on did not sign you in: %(reason)s") % {
            "reason": str(exc)
        }

    async def logout(request: Request) -> Response:
        posted = await board.posted(request)
        if isinstance(posted, Response):
            return posted
        await board.call(
            websessions.sign_out, request.cookies.get(board.cookie), address=board.address(request)
        )
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(board.cookie, path="/", secure=board.web.https, httponly=True)
        return response

    return [
        Route("/healthz", healthz),
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route(FLOW_PATH, sso_start, methods=["GET"]),
        Route(CALLBACK_PATH, sso_callback, methods=["GET"]),
    ]
