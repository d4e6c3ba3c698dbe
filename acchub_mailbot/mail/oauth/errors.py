"""The two OAuth failures: one the poll retries, one a person must fix."""

from __future__ import annotations

from acchub_mailbot.errors import AcchubError, TransientError


class OAuthError(TransientError):
    """The token endpoint could not be reached or failed (network, timeout, 5xx, 429)."""


class OAuthPermanentError(AcchubError):
    """Signing in cannot succeed until a person acts; the message says what to do.

    Raised for a refused grant (``invalid_grant``: revoked, expired or already-used refresh
    token), a refused client, a missing or unsafe token store, or a device sign-in that was
    declined or timed out. Not a :class:`~acchub_mailbot.errors.PermanentError`: it concerns
    a mailbox, not a message, so no message is quarantined because of it.
    """
