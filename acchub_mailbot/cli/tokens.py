"""``acchub-mailbot tokens``: personal API tokens for other tools (``Authorization: Bearer``).

Each command parses its arguments, calls ``app.tokens`` and prints. A new token is printed once
and stored only as a hash.
"""

from __future__ import annotations

from pathlib import Path

import click

from acchub_mailbot.cli.common import _config_option, _echo_json, _json_option, _open_app, _table


@click.group()
def tokens() -> None:
    """Personal API tokens: create, list, revoke."""


@tokens.command("create")
@_config_option
@click.option("--user", "email", required=True, metavar="EMAIL", help="The account it acts as.")
@click.option("--read-only", is_flag=True, help="May read, never change anything.")
@_json_option
def tokens_create(config_path: Path | None, email: str, read_only: bool, as_json: bool) -> None:
    """Create a token for an account and print it once."""
    from acchub_mailbot.app.tokens import create_token

    app = _open_app(config_path)
    info, secret = create_token(app, email, read_only=read_only)
    app.close()
    if as_json:
        _echo_json({**info.as_dict(), "token": secret})
        return
    kind = "read-only token" if read_only else "token"
    click.echo(f"{kind} {info.id} for {info.email} (shown once; store it now):")
    click.echo(secret)


@tokens.command("list")
@_config_option
@click.option("--user", "email", metavar="EMAIL", help="Only this account's tokens.")
@_json_option
def tokens_list(config_path: Path | None, email: str | None, as_json: bool) -> None:
    """List tokens (their hints, never the tokens)."""
    from acchub_mailbot.app.tokens import list_tokens

    app = _open_app(config_path)
    found = list_tokens(app, email)
    app.close()
    if as_json:
        _echo_json([t.as_dict() for t in found])
        return
    if not found:
        click.echo("no tokens: create one with `acchub-mailbot tokens create --user EMAIL`")
        return
    click.echo(
        _table(
            [
                (
                    t.id,
                    t.email,
                    t.hint + "…",
                    "read-only" if t.read_only else "read-write",
                    "revoked" if t.revoked else "active",
                    t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never",
                )
                for t in found
            ],
            ("ID", "ACCOUNT", "TOKEN", "ACCESS", "STATE", "LAST USED"),
        )
    )


@tokens.command("revoke")
@_config_option
@click.argument("token_id", type=int, metavar="ID")
def tokens_revoke(config_path: Path | None, token_id: int) -> None:
    """Revoke a token: it stops working at once."""
    from acchub_mailbot.app.tokens import revoke_token

    app = _open_app(config_path)
    info = revoke_token(app, token_id)
    app.close()
    click.echo(f"revoked token {info.id} of {info.email}")
