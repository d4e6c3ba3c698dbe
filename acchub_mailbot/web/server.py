"""The dashboard as one ASGI application: the routes of each page module over one ``Board``,
the static files (the stylesheet and the vendored htmx), and the security headers on every
response. Who may see what is decided in ``app.access``; no route holds a query or a rule."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from acchub_mailbot import paths
from acchub_mailbot.app.runtime import App
from acchub_mailbot.web import (
    accountpage,
    api,
    attention,
    auditpage,
    clientpages,
    digestpage,
    mailboxpage,
    signin,
)
from acchub_mailbot.web.board import Board
from acchub_mailbot.web.languages import Languages
from acchub_mailbot.web.security import SecurityHeaders


def create_web(app: App) -> Starlette:
    """The dashboard over an open ``App``."""
    board = Board(app)
    routes: list[BaseRoute] = [
        *signin.routes(board),
        *clientpages.routes(board),
        *attention.routes(board),
        *auditpage.routes(board),
        *mailboxpage.routes(board),
        *accountpage.routes(board),
        *digestpage.routes(board),
        *api.routes(board),
        Mount("/static", StaticFiles(directory=paths.templates_dir() / "web" / "static")),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, https=app.settings.web.https),
            Middleware(Languages),
        ],
    )
