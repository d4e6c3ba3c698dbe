"""What every route of the dashboard needs: the templates, who is signed in, the session cookie,
the client's address, the CSRF check of a form, and the pages for "not found" and "refused".

Routes live in their own modules (``signin``, ``clientpages``, ``attention``, ``auditpage``,
``api``) and share one ``Board`` bound to the application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from acchub_mailbot import paths
from acchub_mailbot.app import websessions
from acchub_mailbot.app.runtime import App
from acchub_mailbot.report.templating import load_translations
from acchub_mailbot.web.languages import LANGUAGE, LANGUAGES
from acchub_mailbot.web.security import same_token

SignedIn = websessions.SignedIn


def _templates(language: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths.templates_dir() / "web"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(load_translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["query"] = lambda params: urlencode(params)
    return env


class Board:
    """The shared helpers, bound to one application."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.web = app.settings.web
        self.templates = {language: _templates(language) for language in LANGUAGES}
        self.cookie = "__Host-acchub_session" if self.web.https else "acchub_session"

    def address(self, request: Request) -> str | None:
        """The client's address; X-Forwarded-For only from a trusted proxy (its last hop)."""
        peer = request.client.host if request.client else None
        forwarded = request.headers.get("x-forwarded-for")
        if peer in self.web.trusted_proxies and forwarded:
            return forwarded.split(",")[-1].strip() or peer
        return peer

    def page(self, name: str, code: int = 200, **values: Any) -> HTMLResponse:
        """A page in the request's language (``web.languages``)."""
        values.setdefault("who", None)
        values.setdefault("nav", "")
        language = LANGUAGE.get()
        html = self.templates[language].get_template(name).render(lang=language, **values)
        return HTMLResponse(html, status_code=code)

    @staticmethod
    def gettext(message: str) -> str:
        """A sentence of a route's own in the request's language."""
        return load_translations(LANGUAGE.get()).gettext(message)

    def expired(self) -> Response:
        """A form whose CSRF token is missing or wrong: refused, and nothing done."""
        return self.page(
            "error.html.j2", 403, message=self.gettext("The form expired. Sign in again.")
        )

    def not_found(self, who: SignedIn | None) -> Response:
        """Whatever is not there, or not the viewer's to see: the same page either way."""
        message = self.gettext("This page does not exist, or it is not yours to see.")
        return self.page("error.html.j2", 404, who=who, message=message)

    def set_cookie(
        self, response: Response, key: str, value: str, max_age: int, path: str = "/"
    ) -> None:
        response.set_cookie(
            key, value, max_age=max_age, path=path, secure=self.web.https, httponly=True,
            samesite="lax",
        )  # fmt: skip

    async def signed_in(self, request: Request) -> SignedIn | None:
        return await run_in_threadpool(
            websessions.current, self.app, request.cookies.get(self.cookie)
        )

    async def posted(self, request: Request) -> tuple[SignedIn, FormData] | Response:
        """The signed-in person and their form, or the response refusing it (no session or
        no valid CSRF token: nothing is done)."""
        who = await self.signed_in(request)
        form = await request.form()
        if who is None or not same_token(who.csrf, str(form.get("csrf", ""))):
            return self.expired()
        return who, form

    @staticmethod
    def to_sign_in() -> Response:
        return RedirectResponse("/login", status_code=303)

    async def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A use case in the thread pool: database work never runs on the event loop."""
        return await run_in_threadpool(function, self.app, *args, **kwargs)
