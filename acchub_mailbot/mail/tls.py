"""TLS for the mail connections (IMAP and SMTP): verified by default, off only loudly."""

from __future__ import annotations

import logging
import ssl

# The warning keeps the logger it had when this lived in the inbox module: it is part of
# the log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.inbox")


def tls_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """System CAs plus an optional extra bundle; verification can only be turned off loudly."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if not verify:
        log.warning(
            "TLS certificate verification is OFF for this connection (verify_tls: false); "
            "anyone on the network path can read the password"
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
