"""The audit log, for admins; to anyone else it does not exist."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from acchub_mailbot.app import audit
from acchub_mailbot.errors import NotFound
from acchub_mailbot.web.board import Board


def routes(board: Board) -> list[Route]:
    async def page(request: Request) -> Response:
        who = await board.signed_in(request)
        if who is None:
            return board.to_sign_in()
        action = request.query_params.get("action") or None
        if action not in (None, *audit.ACTIONS):
            action = None
        number = request.query_params.get("page", "1")
        try:
            found = await board.call(
                audit.audit_log, who, action=action, page=int(number) if number.isdigit() else 1
            )
        except NotFound:
            return board.not_found(who)
        return board.page(
            "audit.html.j2", who=who, nav="audit", log=found, action=action, actions=audit.ACTIONS
        )

    return [Route("/audit", page)]
