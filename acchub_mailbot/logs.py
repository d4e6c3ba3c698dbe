"""Logging an operator can read: one line per event, text or JSON, nothing hostile or secret.

Values that come from email (subjects, Message-IDs, names) pass through :func:`quoted`, which
escapes control characters so that a crafted subject cannot forge extra log lines or terminal
escape sequences.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

#: C0 and C1 controls, line and paragraph separators, bidi embeddings, overrides and isolates,
#: and lone surrogates (undecodable bytes of a header, which a strict UTF-8 writer rejects).
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ud800-\udfff]"
)


def escape_controls(text: str) -> str:
    """Replace control, bidi and lone-surrogate characters with visible escapes, so that text
    from an email can neither forge log lines nor drive a terminal."""
    return _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def quoted(value: object, limit: int = 200) -> str:
    """A value from email, safe to put in a log line."""
    if value is None:
        return "-"
    text = escape_controls(str(value))
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


class _SafeFormatter(logging.Formatter):
    """Text lines; the whole rendered message is escaped once more as a last line of defence."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        head, _, tail = line.partition("\n")
        # Tracebacks legitimately span lines; everything else must not.
        return escape_controls(head) + ("\n" + tail if tail else "")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("mailbox", "message_id", "uid"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            _SafeFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Library chatter at INFO would drown the service's own lines.
    for noisy in ("imapclient", "apscheduler", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
