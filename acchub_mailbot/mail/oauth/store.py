"""The token store: a mailbox's refresh token (and cached access token) in a 0600 JSON file."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acchub_mailbot.mail.oauth.errors import OAuthPermanentError
from acchub_mailbot.mail.oauth.responses import _json_object
from acchub_mailbot.mail.oauth.settings import OAuthSettings, default_token_store

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.oauth")


@dataclass(frozen=True)
class StoredTokens:
    """What the token store file holds; token values never show in a repr."""

    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    updated_at: float | None = None


class TokenStore:
    """A mailbox's tokens in a JSON file that only its owner may read (mode 0600).

    Writes go to a temporary file in the same directory (created 0600), are fsynced and
    renamed over the old file, so a crash leaves either the old or the new refresh token,
    never a torn file. A file that others can read is used with a logged warning; one that
    others can write is refused, since a planted token would redirect the mailbot to
    someone else's mailbox.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._warned = False

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def permission_problem(self) -> str | None:
        """Why the file's permissions are unsafe, or None (also None when it does not exist)."""
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return None
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"token store {self.path} is writable by other users; chmod 600 it"
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            return f"token store {self.path} is readable by other users; chmod 600 it"
        return None

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> StoredTokens | None:
        """The stored tokens, or None when the file does not exist yet."""
        problem = self.permission_problem()
        if problem and "writable" in problem:
            raise OAuthPermanentError(f"{problem} and sign in again")
        if problem and not self._warned:
            self._warned = True
            log.warning("%s", problem)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OAuthPermanentError(
                f"token store {self.path}: cannot read it ({exc.strerror})"
            ) from None
        data = _json_object(raw)
        refresh = data.get("refresh_token") if data else None
        if data is None or not isinstance(refresh, str) or not refresh:
            raise OAuthPermanentError(f"token store {self.path} is damaged (no refresh token)")
        access = data.get("access_token")
        return StoredTokens(
            refresh_token=refresh,
            access_token=access if isinstance(access, str) and access else None,
            expires_at=_number(data.get("expires_at")),
            updated_at=_number(data.get("updated_at")),
        )

    def save(self, tokens: StoredTokens) -> None:
        """Replace the file atomically and durably, readable by its owner only."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        payload = json.dumps(
            {
                "version": 1,
                "refresh_token": tokens.refresh_token,
                "access_token": tokens.access_token,
                "expires_at": tokens.expires_at,
                "updated_at": tokens.updated_at,
            }
        ).encode()
        # mkstemp creates the file with mode 0600 whatever the umask.
        fd, staging = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(staging)
            raise
        _fsync_directory(self.path.parent)
        self._warned = False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock so that two processes never spend one refresh token twice."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fsync_directory(directory: Path) -> None:
    # The rename itself is only durable once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def store_for(mailbox: str, oauth: OAuthSettings, config_dir: Path) -> TokenStore:
    """The mailbox's token store: ``token_store``, else ``tokens/NAME.json`` by the config."""
    path = oauth.token_store or default_token_store(mailbox, config_dir)
    if not path.is_absolute():
        path = config_dir / path
    return TokenStore(path)
