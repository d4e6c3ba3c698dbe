"""The JSON API for other tools: ``GET /api/clients`` (the objects of ``clients list --json``,
the Clients page's filters) and ``GET /api/clients/{id}``, by session or by
``Authorization: Bearer`` token. Access links are masked here as on the pages; a tool that
needs one asks ``POST /api/clients/{id}/reveal``, which is audited like a click on the card."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from acchub_mailbot.app import access, cards, tokens
from acchub_mailbot.app.access import Viewer
from acchub_mailbot.core.clientquery import QueryError, parse_query
from acchub_mailbot.core.linkmask import SECRET_FIELDS, masked_card
from acchub_mailbot.errors import NotFound
from acchub_mailbot.web.board import Board
from acchub_mailbot.web.security import same_token


def _unauthorized() -> Response:
    return JSONResponse(
        {"error": "sign in, or send a token as Authorization: Bearer"},
        401,
        headers={"WWW-Authenticate": 'Bearer realm="acchub-mailbot"'},
    )


def _session_csrf(request: Request, who: Viewer) -> bool:
    """A session (not a token) proves the request came from the dashboard's own page."""
    return same_token(getattr(who, "csrf", None), request.headers.get("x-csrf-token"))


def routes(board: Board) -> list[Route]:
    async def caller(request: Request) -> Viewer | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential:
            found: Viewer | None = await board.call(tokens.bearer, credential.strip())
            return found
        return await board.signed_in(request)

    async def list_clients(request: Request) -> Response:
        who = await caller(request)
        if who is None:
            return _unauthorized()
        try:
            query = parse_query(dict(request.query_params), paged=False)
        except QueryError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        found = await board.call(access.clients_for, who, query)
        headers = {"X-Total-Count": str(found.total)}
        return JSONResponse([masked_card(c) for c in found.items], headers=headers)

    async def one_client(request: Request) -> Response:
        who = await caller(request)
        if who is None:
            return _unauthorized()
        ref = str(request.path_params["client_id"])
        try:
            card = await board.call(cards.card, who, ref)
        except NotFound:
            return JSONResponse({"error": f"no client {ref}"}, 404)
        return JSONResponse(card)

    async def reveal(request: Request) -> Response:
        who = await caller(request)
        if who is None:
            return _unauthorized()
        if not isinstance(who, tokens.Bearer) and not _session_csrf(request, who):
            return JSONResponse({"error": "send the session's CSRF token as X-CSRF-Token"}, 403)
        if isinstance(who, tokens.Bearer) and who.read_only:
            # A read-only token lists and shows clients; the links into their books it never
            # gets. Create a token without --read-only for a tool that needs them.
            return JSONResponse({"error": "this token is read-only: it cannot reveal links"}, 403)
        ref = str(request.path_params["client_id"])
        field = request.query_params.get("field") or "access_link"
        if field not in SECRET_FIELDS:
            return JSONResponse({"error": f"field must be one of {', '.join(SECRET_FIELDS)}"}, 400)
        try:
            link = await board.call(cards.reveal, who, ref, field, address=board.address(request))
        except NotFound:
            return JSONResponse({"error": f"no client {ref}"}, 404)
        return JSONResponse({"id": int(ref), "field": field, "link": link})

    return [
        Route("/api/clients", list_clients),
        Route("/api/clients/{client_id:int}", one_client),
        Route("/api/clients/{client_id:int}/reveal", reveal, methods=["POST"]),
    ]
