"""``acchub-mailbot auth``: sign a mailbox in with OAuth 2.0 and show its sign-in state.

``auth login --mailbox NAME`` (or ``--smtp`` for the mailbox that sends) runs the device code
flow: it prints where to go and which code to enter, waits for the person to sign in, and stores
the refresh token (mode 0600).
``auth status`` shows, per OAuth mailbox, whether a token is stored and when the cached access
token expires; with ``--refresh`` it also asks the token endpoint for a fresh access token.
No token value is ever printed.

Exit codes as everywhere in the CLI: 0 success, 1 a sign-in is missing or failed, 2 a
configuration error.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from acchub_mailbot.cli.common import (
    ConfigProblem,
    _apply_logging,
    _config_option,
    _echo_json,
    _json_option,
    _load,
    config_dir,
)
from acchub_mailbot.config import MailboxSettings, Settings
from acchub_mailbot.mail.oauth.errors import OAuthError, OAuthPermanentError
from acchub_mailbot.mail.oauth.grant import device_code_login
from acchub_mailbot.mail.oauth.provider import TokenProvider
from acchub_mailbot.mail.oauth.settings import SMTP_TOKEN_NAME, OAuthSettings, login_hint
from acchub_mailbot.mail.oauth.store import store_for


@click.group()
def auth() -> None:
    """OAuth 2.0 sign-in (XOAUTH2) for Microsoft 365 and Gmail mailboxes."""


def _oauth_of(mailbox: MailboxSettings) -> OAuthSettings | None:
    oauth = getattr(mailbox.imap, "oauth", None)
    return oauth if isinstance(oauth, OAuthSettings) else None


def _oauth_mailboxes(settings: Settings, name: str | None) -> list[tuple[str, OAuthSettings]]:
    if name is not None:
        try:
            mailbox = settings.mailbox(name)
        except Exception as exc:
            raise ConfigProblem(str(exc)) from None
        oauth = _oauth_of(mailbox)
        if oauth is None:
            raise ConfigProblem(
                f"mailbox {name} signs in with a password; add an imap.oauth: section to use "
                "OAuth 2.0"
            )
        return [(name, oauth)]
    return [(m.name, o) for m in settings.mailboxes if (o := _oauth_of(m)) is not None]


def _smtp_oauth(settings: Settings) -> list[tuple[str, OAuthSettings]]:
    oauth = settings.smtp.oauth if settings.smtp is not None else None
    return [(SMTP_TOKEN_NAME, oauth)] if oauth is not None else []


@auth.command("login")
@_config_option
@click.option("--mailbox", "mailbox_name", default=None, help="The mailbox to sign in.")
@click.option(
    "--smtp", "for_smtp", is_flag=True, help="Sign in the mailbox that sends (smtp.oauth)."
)
def login(config_path: Path | None, mailbox_name: str | None, for_smtp: bool) -> None:
    """Sign a mailbox in (device code flow) and store its refresh token."""
    settings = _load(config_path)
    _apply_logging(settings)
    if for_smtp == (mailbox_name is not None):
        raise ConfigProblem("choose one: --mailbox NAME, or --smtp for the sending sign-in")
    if for_smtp:
        found = _smtp_oauth(settings)
        if not found:
            raise ConfigProblem("smtp signs in with a password; add an smtp.oauth: section")
        [(name, oauth)] = found
    else:
        [(name, oauth)] = _oauth_mailboxes(settings, mailbox_name)
    if oauth.app_only:
        click.echo(
            f"{name}: grant {oauth.grant} signs in as the application, with no person and "
            "nothing to store; `auth status --refresh` tries it"
        )
        return
    store = store_for(name, oauth, config_dir(config_path))
    try:
        tokens = device_code_login(oauth, store, mailbox=name, echo=click.echo)
    except (OAuthError, OAuthPermanentError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Signed in: mailbox {name}; refresh token saved to {store.path} (mode 0600)")
    if tokens.expires_at is not None:
        until = datetime.fromtimestamp(tokens.expires_at, UTC).isoformat(timespec="seconds")
        click.echo(f"access token valid until {until}")


@auth.command("status")
@_config_option
@_json_option
@click.option("--mailbox", "mailbox_name", default=None, help="Only this mailbox.")
@click.option(
    "--refresh", is_flag=True, help="Also ask the token endpoint for a fresh access token."
)
def status(
    config_path: Path | None, as_json: bool, mailbox_name: str | None, refresh: bool
) -> None:
    """Per OAuth mailbox: is a token stored, and when does the access token expire."""
    settings = _load(config_path)
    _apply_logging(settings)
    base_dir = config_dir(config_path)
    rows: list[dict[str, Any]] = []
    problem = False
    signins = _oauth_mailboxes(settings, mailbox_name)
    if mailbox_name is None:
        signins += _smtp_oauth(settings)
    subjects = {m.name: m.imap.username for m in settings.mailboxes}
    if settings.smtp is not None:
        subjects[SMTP_TOKEN_NAME] = settings.smtp.username or ""
    for name, oauth in signins:
        store = store_for(name, oauth, base_dir)
        with TokenProvider(oauth, store, mailbox=name, subject=subjects.get(name)) as provider:
            if refresh:
                # A failure is recorded in provider.last_error, which the status below shows.
                with contextlib.suppress(OAuthError, OAuthPermanentError):
                    provider.access_token()
            row = provider.status().as_dict()
        row["provider"] = oauth.provider
        problem = problem or not row["signed_in"] or bool(row["last_error"])
        rows.append(row)
    if as_json:
        _echo_json(rows)
    elif not rows:
        click.echo("no mailbox signs in with OAuth 2.0")
    for row in [] if as_json else rows:
        state = "signed in" if row["signed_in"] else "NOT signed in"
        click.echo(f"{row['mailbox']}: {state} ({row['provider']}), token store {row['store']}")
        click.echo(f"  access token expires: {row['expires_at'] or '-'}")
        click.echo(f"  last refresh:         {row['last_refresh_at'] or '-'}")
        if row["warning"]:
            click.echo(f"  warning: {row['warning']}")
        if row["last_error"]:
            click.echo(f"  error: {row['last_error']}")
        elif not row["signed_in"]:
            click.echo(f"  fix: {login_hint(row['mailbox'])}")
    if problem:
        raise SystemExit(1)
