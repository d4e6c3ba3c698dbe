"""The Clients list, the client card and its actions, and New client.

Every action is a form posted with the session's CSRF token that ends in a redirect or a page,
so the dashboard works without JavaScript; htmx (``hx-boost``) only makes it faster.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from acchub_mailbot.app import access, cards
from acchub_mailbot.core.clientquery import OUTCOMES, SORTS, STATUSES, QueryError, parse_query
from acchub_mailbot.core.roles import ADMIN
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.web.board import Board, SignedIn

BULK_ACTIONS = ("accept", "archive")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def routes(board: Board) -> list[Route]:
    async def clients_page(request: Request) -> Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        params = dict(request.query_params)
        error: str | None = None
        try:
            query = parse_query(params)
        except QueryError as exc:
            query, error = parse_query({}), str(exc)
        found = await board.call(access.clients_for, who, query)
        return board.page(
            "clients.html.j2", 400 if error else 200, who=who, nav="clients", found=found,
            query=query, statuses=STATUSES, outcomes=OUTCOMES, sorts=SORTS, error=error,
            done=params.get("done"), admin=who.role == ADMIN,
        )  # fmt: skip

    async def export(request: Request) -> Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        try:
            query = parse_query(dict(request.query_params))
        except QueryError as exc:
            return board.page("error.html.j2", 400, who=who, message=str(exc))
        text, _count = await board.call(
            cards.export_csv, who, query, address=board.address(request)
        )
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="clients.csv"'},
        )

    async def bulk(request: Request) -> Response:
        posted = await board.posted(request)
        if isinstance(posted, Response):
            return posted
        who, form = posted
        action = _text(form, "action")
        ids = [v for v in form.getlist("ids") if isinstance(v, str) and v.isdigit()]
        if action not in BULK_ACTIONS or not ids:
            return board.page(
                "error.html.j2",
                400,
                who=who,
                message=board.gettext("Choose clients and accept or archive."),
            )
        done = 0
        for ref in ids:
            try:
                if action == "accept":
                    await board.call(cards.accept, who, ref, address=board.address(request))
                else:
                    await board.call(cards.archive, who, ref, address=board.address(request))
            except NotFound:
                continue  # another accountant's client: as if it did not exist
            done += 1
        back = _text(form, "back")
        back = back if back.startswith("?") else "?"
        separator = "&" if len(back) > 1 else ""
        return RedirectResponse(f"/clients{back}{separator}done={done}", status_code=303)

    async def card_page(
        request: Request, who: SignedIn, code: int = 200, **values: Any
    ) -> Response:
        ref = str(request.path_params["client_id"])
        try:
            card = await board.call(cards.card, who, ref)
        except NotFound:
            return board.not_found(who)
        values.setdefault("saved", request.query_params.get("saved"))
        values.setdefault("error", None)
        values.setdefault("revealed", None)
        values.setdefault("tested", None)
        return board.page(
            "card.html.j2", code, who=who, nav="clients", card=card, fields=cards.FORM_FIELDS,
            statuses=STATUSES, admin=who.role == ADMIN, **values,
        )  # fmt: skip

    async def show(request: Request) -> Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        return await card_page(request, who)

    async def act(request: Request) -> Response:
        """One of the card's forms: edit, reveal, test, accept or archive."""
        posted = await board.posted(request)
        if isinstance(posted, Response):
            return posted
        who, form = posted
        ref = str(request.path_params["client_id"])
        action = str(request.path_params["action"])
        address = board.address(request)
        try:
            if action == "edit":
                submitted = {f: _text(form, f) if f in form else None for f in cards.EDITABLE}
                await board.call(cards.edit, who, ref, submitted, address=address)
                return RedirectResponse(f"/clients/{ref}?saved=1", status_code=303)
            if action == "reveal":
                field = _text(form, "field") or "access_link"
                link = await board.call(cards.reveal, who, ref, field, address=address)
                return await card_page(request, who, revealed={"field": field, "link": link})
            if action == "test":
                tested = await board.call(cards.test_url, who, ref, address=address)
                return await card_page(request, who, tested=tested.as_dict())
            if action == "accept":
                await board.call(cards.accept, who, ref, address=address)
            elif action == "archive":
                await board.call(cards.archive, who, ref, address=address)
            else:
                return board.not_found(who)
        except NotFound:
            return board.not_found(who)
        except Refused as exc:
            return await card_page(request, who, 400, error=str(exc))
        return RedirectResponse(f"/clients/{ref}?saved=1", status_code=303)

    async def new_form(request: Request) -> Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        return board.page(
            "new.html.j2", who=who, nav="new", fields=cards.FORM_FIELDS, values={}, error=None
        )

    async def new(request: Request) -> Response:
        posted = await board.posted(request)
        if isinstance(posted, Response):
            return posted
        who, form = posted
        values = {f: _text(form, f) for f in cards.FORM_FIELDS}
        try:
            made = await board.call(
                cards.add, who, values["client_url"], values, address=board.address(request)
            )
        except Refused as exc:
            return board.page(
                "new.html.j2", 400, who=who, nav="new", fields=cards.FORM_FIELDS, values=values,
                error=str(exc),
            )  # fmt: skip
        return RedirectResponse(f"/clients/{made['id']}?saved=1", status_code=303)

    return [
        Route("/clients", clients_page),
        Route("/clients/export.csv", export),
        Route("/clients/bulk", bulk, methods=["POST"]),
        Route("/clients/new", new_form, methods=["GET"]),
        Route("/clients/new", new, methods=["POST"]),
        Route("/clients/{client_id:int}", show),
        Route("/clients/{client_id:int}/{action:str}", act, methods=["POST"]),
    ]
