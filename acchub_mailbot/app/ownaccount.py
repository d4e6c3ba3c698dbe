"""A person's own page as use cases: their live sessions, which they may end, and their API
tokens, which they may create (shown once) and revoke. Nobody reaches another person's session
or token here: it is "not found", like another accountant's client."""

from __future__ import annotations

from dataclasses import dataclass

from acchub_mailbot.app import audit, tokens, websessions
from acchub_mailbot.app.runtime import App
from acchub_mailbot.app.websessions import SessionInfo, SignedIn
from acchub_mailbot.errors import NotFound


@dataclass(frozen=True)
class OwnAccount:
    email: str
    role: str
    sessions: list[SessionInfo]
    tokens: list[tokens.TokenInfo]


def own_account(app: App, who: SignedIn) -> OwnAccount:
    return OwnAccount(
        who.email,
        who.role,
        websessions.sessions_of(app, who),
        [t for t in tokens.list_tokens(app, who.email) if not t.revoked],
    )


def create_own_token(
    app: App, who: SignedIn, *, read_only: bool, address: str | None = None
) -> tuple[tokens.TokenInfo, str]:
    """A new personal token; the secret is returned this once and stored only hashed."""
    info, secret = tokens.create_token(app, who.email, read_only=read_only)
    audit.record(
        app, who.email, audit.TOKEN_CREATED, target=f"token {info.id}",
        detail={"read_only": read_only}, address=address,
    )  # fmt: skip
    return info, secret


def revoke_own_token(app: App, who: SignedIn, token_id: int, *, address: str | None = None) -> None:
    if not any(t.id == token_id for t in tokens.list_tokens(app, who.email)):
        raise NotFound(f"no token {token_id} of yours")
    tokens.revoke_token(app, token_id)
    audit.record(app, who.email, audit.TOKEN_REVOKED, target=f"token {token_id}", address=address)


def end_own_session(
    app: App, who: SignedIn, session_id: int, *, address: str | None = None
) -> None:
    websessions.end_session(app, who, session_id)
    audit.record(
        app, who.email, audit.SESSION_ENDED, target=f"session {session_id}", address=address
    )
