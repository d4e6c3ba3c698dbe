"""The IMAP edge: with :mod:`acchub_mailbot.mail.connect`, the only code that imports imapclient.

It connects with TLS verified by default, reads with ``BODY.PEEK`` so that reading never marks
mail as seen, and carries out the configured server-side action only when asked (after the
database commit). It never deletes or expunges anything.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

from acchub_mailbot.config import ImapSettings, ServerAction
from acchub_mailbot.core import bodyparts
from acchub_mailbot.core.limits import Limits
from acchub_mailbot.errors import MailboxUnavailable
from acchub_mailbot.mail import fetchreader
from acchub_mailbot.mail.connect import one_line, open_imap
from acchub_mailbot.mail.oauth.provider import TokenProvider, shared_provider
from acchub_mailbot.mail.oauth.store import TokenStore
from acchub_mailbot.mail.sifting import INLINE, Pending, Sifted, Sifter, Summary

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.inbox")

#: Errors that mean "the server or the network let us down": retried with backoff.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ssl.SSLError,
    IMAPClientError,
    EOFError,
)


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int
    exists: int


@dataclass(frozen=True)
class FetchedMessage:
    """One message as fetched. ``raw`` is the whole message, or its headers and text parts
    reassembled (attachments left empty); with ``prefiltered`` it holds only the headers of a
    message the prefilter showed cannot be reported, which is recorded without parsing."""

    uid: int
    raw: bytes
    size: int
    flags: tuple[str, ...]
    prefiltered: bool = False
    #: Message-ID, subject and sender of a prefiltered message, when the prefilter read them.
    summary: Summary | None = None


#: UIDs per metadata FETCH (Dovecot refuses commands over 64 kB, ~12,000 UIDs); also what is
#: held in memory at a time (two chunks while the next one is fetched).
META_CHUNK = 500


@dataclass(frozen=True)
class _Chunk:
    """One chunk of UIDs as fetched: metadata, plans, and the sections of planned messages."""

    uids: Sequence[int]
    meta: dict[int, dict[bytes, Any]]
    plans: dict[int, bodyparts.Plan]
    sections: dict[int, dict[str, bytes]]


#: Messages per FETCH of body sections.
SECTION_CHUNK = 500


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Inbox:
    """One logged-in connection to one mailbox folder."""

    def __init__(
        self, settings: ImapSettings, *, mailbox: str, tokens: TokenProvider | None = None
    ) -> None:
        self.settings = settings
        self.mailbox = mailbox
        self._client: IMAPClient | None = None
        # With oauth: and no provider given, one is made per connection; the access token
        # it caches in the token store is reused across connections and processes.
        self._tokens = tokens
        self._owns_tokens = False

    def _token_provider(self) -> TokenProvider:
        oauth = self.settings.oauth
        if self._tokens is None:
            if oauth is None or oauth.token_store is None:
                raise MailboxUnavailable(f"mailbox {self.mailbox}: no OAuth token store set")
            if oauth.app_only:
                # Nothing on disk to share across connections: the process keeps the token.
                self._tokens = shared_provider(
                    oauth, mailbox=self.mailbox, subject=self.settings.username
                )
            else:
                self._tokens = TokenProvider(
                    oauth, TokenStore(oauth.token_store), mailbox=self.mailbox
                )
                self._owns_tokens = True
        return self._tokens

    def __enter__(self) -> Inbox:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise MailboxUnavailable(f"mailbox {self.mailbox}: not connected")
        return self._client

    def connect(self) -> None:
        self._client = open_imap(self.settings, mailbox=self.mailbox, tokens=self._token_provider)

    def _release_tokens(self) -> None:
        if self._owns_tokens and self._tokens is not None:
            self._tokens.close()
            self._tokens, self._owns_tokens = None, False

    def close(self) -> None:
        self._release_tokens()
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            # Closing a broken connection must not mask the error that broke it.
            with contextlib.suppress(Exception):
                client.shutdown()

    def select(self) -> FolderStatus:
        try:
            info = self.client.select_folder(self.settings.folder)
        except IMAPClientError as exc:
            raise MailboxUnavailable(
                f"mailbox {self.mailbox}: cannot open folder {self.settings.folder!r} "
                f"({one_line(exc)})"
            ) from None
        return FolderStatus(
            uidvalidity=int(info.get(b"UIDVALIDITY", 0)),
            uidnext=int(info.get(b"UIDNEXT", 0)),
            exists=int(info.get(b"EXISTS", 0)),
        )

    def status(self) -> tuple[int, int]:
        """``(UIDVALIDITY, UIDNEXT)`` of the selected folder: the cheap "anything new?".

        STATUS on the selected folder costs ~0.25 ms (on an unselected one the server opens the
        folder's index); the NOOP first brings this session's view up to date.
        """
        self.client.noop()
        info = self.client.folder_status(self.settings.folder, [b"UIDVALIDITY", b"UIDNEXT"])
        return int(info.get(b"UIDVALIDITY", 0)), int(info.get(b"UIDNEXT", 0))

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``; ``n:*`` also returns the highest UID when it is below n."""
        found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in (int(u) for u in found) if uid > last_uid)

    def existing(self, uids: Sequence[int]) -> set[int]:
        present: set[int] = set()
        for chunk in _chunks(list(uids), 1000):
            present.update(int(u) for u in self.client.search(["UID", _uid_set(chunk)]))
        return present

    def fetch(
        self,
        uids: Sequence[int],
        *,
        limits: Limits | None = None,
        prefilter: bool = True,
        sifter: Sifter = INLINE,
    ) -> Iterator[FetchedMessage]:
        """Fetch only what decides, without setting ``\\Seen``.

        Per chunk of UIDs, one ``FETCH (BODYSTRUCTURE RFC822.SIZE FLAGS)``, then the header and
        text sections of each message (never attachment bodies), grouped by identical section
        lists. With ``prefilter`` a message that cannot be an invitation comes back as its
        headers only; ``sifter`` decides that, for big chunks in a worker process while the
        next chunk is fetched (so a chunk is yielded once the next one has been fetched).
        Structures that cannot be planned are fetched whole, up to ``max_message_bytes``.
        """
        limits = limits or Limits()
        pending: tuple[_Chunk, Pending | None] | None = None
        for uid_chunk in _chunks(list(uids), META_CHUNK):
            fetched = self._fetch_chunk(uid_chunk)
            sifted = None
            if prefilter:
                planned = {uid: (fetched.plans[uid], s) for uid, s in fetched.sections.items()}
                sifted = sifter.start(planned, limits)
            if pending is not None:
                yield from self._finish(*pending, limits)
            pending = (fetched, sifted)
        if pending is not None:
            yield from self._finish(*pending, limits)

    def _fetch_chunk(self, uids: Sequence[int]) -> _Chunk:
        meta = self._fetch(uids, ["BODYSTRUCTURE", "RFC822.SIZE", "FLAGS"])
        plans = {uid: _plan(meta[uid].get(b"BODYSTRUCTURE")) for uid in uids if uid in meta}
        groups: dict[tuple[str, ...], list[int]] = {}
        for uid, planned in plans.items():
            if not planned.whole:
                groups.setdefault(planned.sections, []).append(uid)
        sections: dict[int, dict[str, bytes]] = {}
        for wanted, members in groups.items():
            items = bodyparts.fetch_items(wanted)
            keys = [(s, bodyparts.response_key(s)) for s in wanted]
            for part in _chunks(members, SECTION_CHUNK):
                response = self._fetch(part, items)
                for uid, fields in response.items():
                    if int(uid) in plans:
                        sections[int(uid)] = {s: bytes(fields.get(k) or b"") for s, k in keys}
        return _Chunk(uids, meta, plans, sections)

    def _finish(
        self, chunk: _Chunk, sifted: Pending | None, limits: Limits
    ) -> Iterator[FetchedMessage]:
        answer = sifted.result() if sifted is not None else None
        for uid in chunk.uids:
            data = chunk.meta.get(uid)
            if data is None:
                continue  # expunged by someone else meanwhile
            message = self._one(
                uid, chunk.plans[uid], chunk.sections.get(uid), data, limits, answer
            )
            if message is not None:
                yield message

    def _fetch(self, uids: Sequence[int], items: Sequence[str]) -> dict[int, dict[bytes, Any]]:
        """``UID FETCH`` read by :mod:`acchub_mailbot.mail.fetchreader`, several times faster than
        imapclient's parser on bulk responses; anything that reader does not know is read by
        imapclient's parser instead, and without imaplib underneath, imapclient does it all."""
        imap = getattr(self.client, "_imap", None)
        if imap is None or not hasattr(imap, "uid"):
            return dict(self.client.fetch(list(uids), list(items)))
        typ, data = imap.uid("FETCH", _uid_set(uids), f"({' '.join(items)})")
        if typ != "OK":
            raise IMAPClientError(f"FETCH failed: {one_line(Exception(data))}")
        try:
            return fetchreader.parse_fetch(data)
        except fetchreader.Malformed:
            return dict(parse_fetch_response(data, True, True))

    def _one(
        self,
        uid: int,
        planned: bodyparts.Plan,
        sections: dict[str, bytes] | None,
        data: dict[bytes, Any],
        limits: Limits,
        sifted: Sifted | None,
    ) -> FetchedMessage | None:
        """``sifted`` is the prefilter's answer for the chunk (``None``: no prefilter)."""
        size = int(data.get(b"RFC822.SIZE", 0))
        flags = tuple(
            f.decode("ascii", "replace") if isinstance(f, bytes) else str(f)
            for f in data.get(b"FLAGS", ())
        )
        if not planned.whole and sections is not None:
            if sifted is not None and uid not in sifted.kept:
                header = sections.get("HEADER", b"")
                summary = sifted.summaries.get(uid)
                return FetchedMessage(uid, header, size, flags, True, summary)
            with contextlib.suppress(bodyparts.Unplannable):
                return FetchedMessage(uid, bodyparts.reassemble(planned, sections), size, flags)
        # Fetched whole, but never more than the limit: the parser copes with a cut message.
        item = (
            "BODY.PEEK[]"
            if size <= limits.max_message_bytes
            else (f"BODY.PEEK[]<0.{limits.max_message_bytes}>")
        )
        response = self.client.fetch([uid], [item]).get(uid)
        if response is None:
            return None
        raw = next((bytes(v) for k, v in response.items() if k.startswith(b"BODY[")), b"")
        return FetchedMessage(uid, raw, size, flags)

    def apply_action(self, uid: int, action: ServerAction) -> None:
        """Mark one handled message as the config says. Never deletes."""
        self.apply_action_many([uid], action)

    def apply_action_many(self, uids: Sequence[int], action: ServerAction) -> None:
        """Mark handled messages as the config says, one command per batch. Never deletes."""
        if action.type == "none" or not uids:
            return
        batch = list(uids)
        if action.type == "flag":
            self.client.add_flags(batch, [action.flag.encode("ascii")], silent=True)
        elif action.type == "seen":
            self.client.add_flags(batch, [b"\\Seen"], silent=True)
        elif action.type == "move":
            self.ensure_folder(action.folder)
            if self.client.has_capability("MOVE"):
                self.client.move(batch, action.folder)
            else:
                # COPY then flag; without MOVE we never expunge, so the original stays too.
                self.client.copy(batch, action.folder)
                self.client.add_flags(batch, [b"$AcchubMoved"], silent=True)

    def move_back(self, source: str, destination: str, message_id: str | None) -> int:
        """Move a quarantined message (found by Message-ID) back; returns how many moved."""
        if not message_id or not self.client.folder_exists(source):
            return 0
        try:
            self.client.select_folder(source)
            uids = self.client.search(["HEADER", "Message-ID", message_id])
            if uids:
                if self.client.has_capability("MOVE"):
                    self.client.move(uids, destination)
                else:
                    self.client.copy(uids, destination)
            return len(uids)
        finally:
            self.client.select_folder(self.settings.folder)

    def ensure_folder(self, folder: str) -> None:
        if not self.client.folder_exists(folder):
            try:
                self.client.create_folder(folder)
            except IMAPClientError:
                if not self.client.folder_exists(folder):
                    raise

    def noop(self) -> None:
        self.client.noop()

    # -- IDLE (RFC 2177): the server pushes EXISTS when mail arrives ---------------------------

    def idle_start(self) -> None:
        self.client.idle()

    def idle_read(self) -> tuple[bool, bool]:
        """Read a readable IDLE socket without blocking: (new mail announced, still open).
        A readable socket with no complete response is the server closing it, as is a BYE."""
        responses = self.client.idle_check(timeout=0)
        closed = not responses or any(
            isinstance(item, tuple) and item and item[0] == b"BYE" for item in responses
        )
        return _announces_mail(responses), not closed

    def idle_stop(self) -> bool:
        """Leave IDLE; True when the server announced new mail meanwhile."""
        _text, responses = self.client.idle_done()
        return _announces_mail(responses)

    def abandon(self) -> None:
        """Close without LOGOUT, for a connection that may be dead or still in IDLE."""
        self._release_tokens()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()


def _announces_mail(responses: Sequence[Any]) -> bool:
    return any(
        len(item) >= 2 and item[1] in (b"EXISTS", b"RECENT")
        for item in responses
        if isinstance(item, tuple)
    )


def _plan(bodystructure: Any) -> bodyparts.Plan:
    try:
        return bodyparts.plan(bodystructure)
    except Exception:  # an odd structure is fetched whole rather than failing the poll
        return bodyparts.Plan(None, whole=True)


def _uid_set(uids: Sequence[int]) -> str:
    return ",".join(str(u) for u in uids)
