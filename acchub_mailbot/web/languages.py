"""The page's language, chosen once per request from the browser's ``Accept-Language`` among
the languages that have a catalog (English and French, the digest's), and read by whatever
renders a page during that request."""

from __future__ import annotations

from contextvars import ContextVar

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from acchub_mailbot.core.language import negotiate
from acchub_mailbot.report.templating import SOURCE_LANGUAGE, available_languages

LANGUAGES = available_languages()
LANGUAGE: ContextVar[str] = ContextVar("acchub_page_language", default=SOURCE_LANGUAGE)


class Languages:
    """ASGI middleware: sets ``LANGUAGE`` and says so in ``Content-Language`` (with
    ``Vary: Accept-Language``, as the page depends on it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        language = negotiate(
            Headers(scope=scope).get("accept-language"), LANGUAGES, SOURCE_LANGUAGE
        )
        token = LANGUAGE.set(language)

        async def with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"content-language", language.encode()),
                    (b"vary", b"Accept-Language"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, with_language)
        finally:
            LANGUAGE.reset(token)
