"""OAuth 2.0 sign-in for IMAP (XOAUTH2): Microsoft 365 and Gmail, or any RFC 6749 server.

A mailbox configured with ``oauth:`` signs in with a short-lived access token that is obtained
from a long-lived refresh token. The pieces, from pure to I/O:

* ``settings`` — :class:`OAuthSettings`: the provider, client and endpoints (frozen,
  validated; pure, so the config module can import it without loading httpx).
* ``responses`` — pure helpers: :func:`parse_token_response`,
  :func:`parse_device_authorization` and :func:`device_poll_step` turn HTTP answers into
  values and decisions.
* ``store`` — :class:`TokenStore`: the refresh token (and the cached access token) in a JSON
  file of mode 0600, written atomically, locked against other processes refreshing at the
  same time.
* ``provider`` — :class:`TokenProvider` hands out a valid access token, refreshing it
  shortly before it expires or after the mail server rejected it; a rotated refresh token is
  on disk before the new access token is used. :func:`xoauth2_login` is the IMAP login that
  retries once with a fresh token.
* ``grant`` — :func:`device_code_login`: the first sign-in (RFC 8628 device authorization
  grant).

Errors (``errors``)::

    OAuthError(TransientError)   network failure, timeout, 5xx, 429: retried with the poll
    OAuthPermanentError          the grant or client was refused, no token stored: a person
                                 must act, and the message says what to run

Token values never appear in logs, exceptions or reprs: the dataclasses that hold them hide
those fields, and every text that came from a server is scrubbed of the tokens in play.
"""
