"""*Your account*: the signed-in person's sessions (end any of them) and personal API tokens
(create one, shown once; revoke one). Ending the current session signs out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from acchub_mailbot.app import ownaccount
from acchub_mailbot.errors import NotFound
from acchub_mailbot.web.board import Board, SignedIn


def routes(board: Board) -> list[Route]:
    async def show(request: Request, who: SignedIn, **values: Any) -> Response:
        account = await board.call(ownaccount.own_account, who)
        values.setdefault("done", request.query_params.get("done"))
        values.setdefault("secret", None)
        return board.page("account.html.j2", who=who, nav="account", account=account, **values)

    async def page(request: Request) -> Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        return await show(request, who)

    async def create_token(request: Request) -> Response:
        posted = await board.posted(request)
        if isinstance(posted, Response):
            return posted
        who, form = posted
        info, secret = await board.call(
            ownaccount.create_own_token, who, read_only=form.get("read_only") == "1",
            address=board.address(request),
        )  # fmt: skip
        # The secret is in this response's body only: never in a URL, a redirect or a log.
        return await show(request, who, secret=secret, created=info, done=None)

    async def on_own(request: Request, use_case: Callable[..., None], done: str) -> Response:
        """A form on one of the person's own tokens or sessions (``ident``): done, or 404."""
        posted = await board.posted(request)
        if isinstance(posted, Response):
            return posted
        who, _form = posted
        ident = int(request.path_params["ident"])
        try:
            await board.call(use_case, who, ident, address=board.address(request))
        except NotFound:
            return board.not_found(who)
        if use_case is ownaccount.end_own_session and ident == who.session_id:
            return board.to_sign_in()  # the current session ended: signed out
        return RedirectResponse(f"/account?done={done}", status_code=303)

    async def revoke_token(request: Request) -> Response:
        return await on_own(request, ownaccount.revoke_own_token, "revoked")

    async def end_session(request: Request) -> Response:
        return await on_own(request, ownaccount.end_own_session, "ended")

    return [
        Route("/account", page),
        Route("/account/tokens", create_token, methods=["POST"]),
        Route("/account/tokens/{ident:int}/revoke", revoke_token, methods=["POST"]),
        Route("/account/sessions/{ident:int}/end", end_session, methods=["POST"]),
    ]
