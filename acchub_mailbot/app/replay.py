"""Replay: run saved mail (``.eml`` files, folders of them, mbox files) through the pipeline.

A replayed message is keyed by its content, so replaying the same file twice registers nothing
new. The outcome is recorded under a mailbox like polled mail, so digests report it.
"""

from __future__ import annotations

import hashlib
import mailbox as mbox_format
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from acchub_mailbot.app.inspect import inspect_bytes
from acchub_mailbot.app.pipeline import MailboxRules, apply_message
from acchub_mailbot.app.runtime import App
from acchub_mailbot.store import processed
from acchub_mailbot.store.models import utcnow

SavedMessage = tuple[str, bytes]


def saved_messages(source: Path) -> list[SavedMessage]:
    """(name, raw bytes) of every message in an .eml file, a directory of them, or an mbox."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix in (".eml", ".msg"))
        return [(str(p), p.read_bytes()) for p in files]
    with source.open("rb") as handle:
        head = handle.read(5)
    if head == b"From ":
        box = mbox_format.mbox(str(source), create=False)
        try:
            return [(f"{source}#{i + 1}", msg.as_bytes()) for i, msg in enumerate(box)]
        finally:
            box.close()
    return [(str(source), source.read_bytes())]


@dataclass(frozen=True)
class Replayed:
    """One replayed message: its verdict, whether it created a client, or that it was skipped."""

    name: str
    verdict: str | None
    created: bool = False
    client_url: str | None = None

    @property
    def skipped(self) -> bool:
        return self.verdict is None


def dry_run(messages: Sequence[SavedMessage]) -> Iterator[Replayed]:
    """The decisions only; nothing is stored and nothing is fetched."""
    for name, raw in messages:
        result = inspect_bytes(raw, name)
        url = result.get("client_url")
        yield Replayed(name, str(result["verdict"]), client_url=str(url) if url else None)


def replay(
    app: App, messages: Sequence[SavedMessage], mailbox: str | None = None
) -> Iterator[Replayed]:
    """Decide and register each message, one transaction each, then verify new client URLs."""
    settings = app.settings
    target = mailbox or (settings.mailboxes[0].name if settings.mailboxes else "replay")
    known = [m for m in settings.mailboxes if m.name == target]
    rules = MailboxRules.of(settings, known[0]) if known else None
    for name, raw in messages:
        key = int.from_bytes(hashlib.sha256(raw).digest()[:7], "big")
        with app.sessions.begin() as session:
            row = processed.new_replay_row(session, target, key)
            if row is None:
                yield Replayed(name, None)
                continue
            applied = apply_message(
                session,
                row,
                raw,
                live_check=settings.verification.live_check,
                now=utcnow(),
                rules=rules,
            )
            row.state = "done"
        yield Replayed(name, applied.verdict, created=applied.created)
    if settings.verification.live_check:
        app.verify_pending()
