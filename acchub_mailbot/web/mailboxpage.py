"""*Mailboxes*, for admins: each mailbox's last poll, error, backlog, sign-in and holder, and
"poll now", which asks the service through the database."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from acchub_mailbot.app import mailboxes
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.web.board import Board, SignedIn


def routes(board: Board) -> list[Route]:
    async def show(
        who: SignedIn, code: int = 200, *, asked: str | None = None, error: str | None = None
    ) -> Response:
        try:
            report = await board.call(mailboxes.overview, who)
        except NotFound:
            return board.not_found(who)
        return board.page(
            "mailboxes.html.j2", code, who=who, nav="mailboxes", report=report, asked=asked,
            error=error,
        )  # fmt: skip

    async def page(request: Request) -> Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        return await show(who, asked=request.query_params.get("asked"))

    async def poll(request: Request) -> Response:
        posted = await board.posted(request)
        if isinstance(posted, Response):
            return posted
        who, _form = posted
        name = str(request.path_params["name"])
        try:
            await board.call(mailboxes.poll_now, who, name, address=board.address(request))
        except NotFound:
            return board.not_found(who)
        except Refused as exc:
            return await show(who, 400, error=str(exc))
        return RedirectResponse(f"/mailboxes?{urlencode({'asked': name})}", status_code=303)

    return [
        Route("/mailboxes", page),
        Route("/mailboxes/{name:str}/poll", poll, methods=["POST"]),
    ]
