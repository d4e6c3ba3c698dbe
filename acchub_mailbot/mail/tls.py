"""TLS for the mail connections (IMAP and SMTP): verified by default, off only loudly.

One context serves every connection with the same trust settings. Building one loads the
system's CA store, about a megabyte of memory and several milliseconds of CPU: per connection,
that is most of an instance's memory once it keeps a thousand connections open. A CA bundle
replaced on disk is read again, because its size and modification time are part of the key.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl

# The warning keeps the logger it had when this lived in the inbox module: it is part of
# the log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.inbox")


def tls_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """System CAs plus an optional extra bundle; verification can only be turned off loudly."""
    if not verify:
        log.warning(
            "TLS certificate verification is OFF for this connection (verify_tls: false); "
            "anyone on the network path can read the password"
        )
    return _shared_context(ca_file, verify, _stamp(ca_file))


def _stamp(ca_file: str | None) -> tuple[int, int] | None:
    if not ca_file:
        return None
    try:
        info = os.stat(ca_file)
    except OSError:
        return None  # load_verify_locations names the problem
    return info.st_mtime_ns, info.st_size


@functools.lru_cache(maxsize=32)
def _shared_context(
    ca_file: str | None, verify: bool, _stamp: tuple[int, int] | None
) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
