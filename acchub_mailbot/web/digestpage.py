"""*Digest preview*: the signed-in person's next digest as it will look, the HTML in a
sandboxed frame (its own strict policy: no script, no request), the text version beside it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from acchub_mailbot.app import digests
from acchub_mailbot.errors import NotFound
from acchub_mailbot.web.board import Board, SignedIn
from acchub_mailbot.web.security import SANDBOXED


def routes(board: Board) -> list[Route]:
    async def preview(request: Request) -> tuple[SignedIn, digests.DigestPreview] | Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        try:
            found: digests.DigestPreview = await board.call(
                digests.preview_for, who, request.query_params.get("mailbox") or None
            )
        except NotFound:
            return board.not_found(who)
        return who, found

    async def page(request: Request) -> Response:
        shown = await preview(request)
        if isinstance(shown, Response):
            return shown
        who, found = shown
        return board.page("digest.html.j2", who=who, nav="digest", preview=found)

    async def document(request: Request) -> Response:
        shown = await preview(request)
        if isinstance(shown, Response):
            return shown
        _who, found = shown
        headers = {"Content-Security-Policy": SANDBOXED, "X-Frame-Options": "SAMEORIGIN"}
        return HTMLResponse(found.rendered.html, headers=headers)

    return [Route("/digest", page), Route("/digest/preview.html", document)]
