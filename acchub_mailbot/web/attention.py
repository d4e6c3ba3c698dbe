"""*Needs attention*: what waits for the signed-in person, and "register anyway", "dismiss" and
"retry" on it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from acchub_mailbot.app import review
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.web.board import Board

KINDS = (review.CLIENT, review.MESSAGE)


def routes(board: Board) -> list[Route]:
    async def page(request: Request) -> Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        items = await board.call(review.attention, who)
        return board.page(
            "attention.html.j2", who=who, nav="attention", items=items,
            done=request.query_params.get("done"), error=None,
        )  # fmt: skip

    async def decide(request: Request) -> Response:
        posted = await board.posted(request)
        if isinstance(posted, Response):
            return posted
        who, form = posted
        kind = str(request.path_params["kind"])
        ident = int(request.path_params["ident"])
        action = str(request.path_params["action"])
        comment = str(form.get("comment") or "")
        address = board.address(request)
        if kind not in KINDS:
            return board.not_found(who)
        try:
            if action == "register":
                client_id = await board.call(
                    review.register_anyway, who, kind, ident, comment, address=address
                )
                return RedirectResponse(f"/clients/{client_id}?saved=1", status_code=303)
            if action == "dismiss":
                await board.call(review.dismiss, who, kind, ident, comment, address=address)
            elif action == "retry" and kind == review.MESSAGE:
                await board.call(review.retry, who, ident, address=address)
            else:
                return board.not_found(who)
        except NotFound:
            return board.not_found(who)
        except Refused as exc:
            items = await board.call(review.attention, who)
            return board.page(
                "attention.html.j2", 400, who=who, nav="attention", items=items, done=None,
                error=str(exc),
            )  # fmt: skip
        return RedirectResponse(f"/attention?done={action}", status_code=303)

    return [
        Route("/attention", page),
        Route("/attention/{kind:str}/{ident:int}/{action:str}", decide, methods=["POST"]),
    ]
