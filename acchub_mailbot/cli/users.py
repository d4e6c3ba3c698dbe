"""``acchub-mailbot users``: the accounts that may sign in to the web dashboard.

Each command parses its arguments, calls ``app.accounts`` and prints. A password comes from
standard input with ``--password-stdin`` (one line, for scripts and secret stores), from a
prompt asked twice on a terminal, or is generated and printed once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from acchub_mailbot.cli.common import (
    F,
    _config_option,
    _echo_json,
    _json_option,
    _open_app,
    _table,
)
from acchub_mailbot.core.roles import ROLES


@click.group()
def users() -> None:
    """Accounts of the web dashboard: add, list, disable, enable, reset a password."""


def _password_stdin_option(func: F) -> F:
    return click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from standard input (its first line) instead of asking.",
    )(func)


def _obtain_password(from_stdin: bool) -> tuple[str, bool]:
    """The password, and whether it was generated here (and must be shown once)."""
    from acchub_mailbot.app.accounts import new_password

    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("--password-stdin: standard input held no password")
        return line, False
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True), False
    return new_password(), True


def _show_generated(email: str, password: str) -> None:
    click.echo(f"password for {email} (shown once; store it now): {password}")


@users.command("add")
@_config_option
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin sees everything.")
@_password_stdin_option
def users_add(config_path: Path | None, email: str, role: str, password_stdin: bool) -> None:
    """Create an account. An admin sees every client and the audit log; an accountant sees the
    clients they forwarded."""
    from acchub_mailbot.app.accounts import add_user

    password, generated = _obtain_password(password_stdin)
    app = _open_app(config_path)
    account = add_user(app, email, role, password)
    app.close()
    click.echo(f"added {account.email} ({account.role})")
    if generated:
        _show_generated(account.email, password)


@users.command("list")
@_config_option
@_json_option
def users_list(config_path: Path | None, as_json: bool) -> None:
    """List the accounts."""
    from acchub_mailbot.app.accounts import list_users

    app = _open_app(config_path)
    accounts = list_users(app)
    app.close()
    if as_json:
        _echo_json([a.as_dict() for a in accounts])
        return
    if not accounts:
        click.echo("no accounts yet: add one with `acchub-mailbot users add EMAIL --role admin`")
        return
    click.echo(
        _table(
            [
                (
                    a.email,
                    a.role,
                    "active" if a.active else "disabled",
                    a.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if a.last_sign_in_at else "never",
                )
                for a in accounts
            ],
            ("EMAIL", "ROLE", "STATE", "LAST SIGN-IN"),
        )
    )


def _set_disabled(config_path: Path | None, email: str, disabled: bool) -> None:
    from acchub_mailbot.app.accounts import set_disabled

    app = _open_app(config_path)
    account = set_disabled(app, email, disabled)
    app.close()
    click.echo(f"{'disabled' if disabled else 'enabled'} {account.email}")


@users.command("disable")
@_config_option
@click.argument("email")
def users_disable(config_path: Path | None, email: str) -> None:
    """Disable an account: it can no longer sign in. Its history is kept."""
    _set_disabled(config_path, email, True)


@users.command("enable")
@_config_option
@click.argument("email")
def users_enable(config_path: Path | None, email: str) -> None:
    """Enable a disabled account again."""
    _set_disabled(config_path, email, False)


@users.command("reset-password")
@_config_option
@click.argument("email")
@_password_stdin_option
def users_reset_password(config_path: Path | None, email: str, password_stdin: bool) -> None:
    """Set a new password for an account."""
    from acchub_mailbot.app.accounts import set_password

    password, generated = _obtain_password(password_stdin)
    app = _open_app(config_path)
    account = set_password(app, email, password)
    app.close()
    click.echo(f"password changed for {account.email}")
    if generated:
        _show_generated(account.email, password)
