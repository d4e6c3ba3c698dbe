"""``acchub-mailbot clients``: the Clients window on the command line.

Each command parses its arguments, calls ``app.clients`` and prints; the rules (URL checks,
protected fields, history) live there, shared with the web dashboard.
"""

from __future__ import annotations

import json
import os
import sys
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from acchub_mailbot.cli.common import _config_option, _echo_json, _json_option, _open_app, _table
from acchub_mailbot.logs import escape_controls

STATUSES = ["pending_verification", "registered", "needs_review", "rejected", "archived"]


@click.group()
def clients() -> None:
    """The Clients window: list, show, add, edit, test and open clients."""


def _client_rows(items: Sequence[dict[str, Any]]) -> str:
    return _table(
        [
            (
                c["id"],
                c["name"],
                c["client_url"],
                c["status"],
                "yes" if c["access_accepted"] else "no",
                c["verification"]["outcome"] or "-",
            )
            for c in items
        ],
        ("ID", "NAME", "CLIENT URL", "STATUS", "ACCEPTED", "URL TEST"),
    )


@clients.command("list")
@_config_option
@_json_option
@click.option("--status", type=click.Choice(STATUSES), help="Only clients with this status.")
@click.option("--owner", metavar="ADDRESS", help="Only clients forwarded by this accountant.")
def clients_list(
    config_path: Path | None, as_json: bool, status: str | None, owner: str | None
) -> None:
    """List clients."""
    from acchub_mailbot.app.clients import list_clients

    app = _open_app(config_path)
    items = list_clients(app, status=status, owner=owner)
    app.close()
    if as_json:
        _echo_json(items)
    elif items:
        click.echo(_client_rows(items))
    else:
        click.echo("no clients" + (f" with status {status}" if status else ""))


@clients.command("show")
@_config_option
@_json_option
@click.argument("ref")
def clients_show(config_path: Path | None, as_json: bool, ref: str) -> None:
    """Show one client card (by ID or client URL) with its history."""
    from acchub_mailbot.app.clients import show_client

    app = _open_app(config_path)
    data = show_client(app, ref)
    app.close()
    if as_json:
        _echo_json(data)
        return
    for key in (
        "id", "name", "client_url", "tenant", "status", "access_accepted", "access_link",
        "add_client_link", "contact_name", "contact_email", "phone", "notes", "mailbox",
        "source_message_id", "created_at", "updated_at",
    ):  # fmt: skip
        value = data.get(key)
        click.echo(f"{key + ':':<20}{escape_controls(str(value)) if value is not None else '-'}")
    verification = data["verification"]
    click.echo(
        f"{'url test:':<20}{verification['outcome'] or 'never'}"
        + (
            f" at {verification['checked_at']}: {verification['reason']}"
            if verification["outcome"]
            else ""
        )
    )
    if data["owners"]:
        click.echo(f"{'owners:':<20}{', '.join(data['owners'])}")
    if data["edited_fields"]:
        click.echo(f"{'edited by hand:':<20}{', '.join(data['edited_fields'])}")
    click.echo("history:")
    for entry in data["history"]:
        changes = json.dumps(entry["changes"], ensure_ascii=False, default=str)
        click.echo(
            f"  {entry['at']}  {entry['actor']:<10} {entry['action']:<22} "
            f"{escape_controls(changes)}"
        )


@clients.command("add")
@_config_option
@_json_option
@click.option(
    "--url",
    required=True,
    help="Client URL, e.g. https://businesscentral.dynamics.com/contoso.onmicrosoft.com",
)
@click.option("--name", required=True, help="Client (company) name.")
@click.option("--contact-name")
@click.option("--contact-email")
@click.option("--phone")
@click.option("--notes")
@click.option("--access-link")
@click.option(
    "--no-test", is_flag=True, help="Skip the live URL test (the offline rules still apply)."
)
def clients_add(
    config_path: Path | None,
    as_json: bool,
    url: str,
    no_test: bool,
    **fields: str | None,
) -> None:
    """New client by hand. The URL is verified like an automatic one."""
    from acchub_mailbot.app.clients import add_client
    from acchub_mailbot.core.urlrules import check_client_url

    # Refuse a bad URL before the database is opened, so a typo costs no connection.
    rule = check_client_url(url, allow_environment=True)
    if not rule.ok or rule.client_url is None:
        raise click.ClickException(f"client URL refused: {rule.reason}")
    app = _open_app(config_path)
    data = add_client(app, url=url, fields=fields, test=not no_test)
    app.close()
    if as_json:
        _echo_json(data)
    else:
        click.echo(
            f"added client {data['id']}: {data['name']} — {data['client_url']} ({data['status']})"
        )


@clients.command("edit")
@_config_option
@_json_option
@click.argument("ref")
@click.option("--name")
@click.option("--url", "client_url", help="A new client URL (checked by the offline rules).")
@click.option("--contact-name")
@click.option("--contact-email")
@click.option("--phone")
@click.option("--notes")
@click.option("--access-link")
@click.option("--add-client-link")
@click.option("--status", type=click.Choice(STATUSES))
def clients_edit(config_path: Path | None, as_json: bool, ref: str, **fields: Any) -> None:
    """Change fields of a client card. Edited fields are never overwritten by later invitations."""
    from acchub_mailbot.app.clients import edit_client

    if all(v is None for v in fields.values()):
        raise click.UsageError("nothing to change: give at least one --field value")
    app = _open_app(config_path)
    applied, data = edit_client(app, ref, fields)
    app.close()
    if as_json:
        _echo_json(data)
    elif applied:
        click.echo(f"client {data['id']}: changed {', '.join(sorted(applied))}")
    else:
        click.echo(f"client {data['id']}: nothing changed")


@clients.command("test-url")
@_config_option
@_json_option
@click.argument("ref")
def clients_test_url(config_path: Path | None, as_json: bool, ref: str) -> None:
    """Test client URL: exit 0 only when verified. REF is a client ID or a URL."""
    from acchub_mailbot.app.clients import url_test
    from acchub_mailbot.verify.urlcheck import Outcome, format_result

    app = _open_app(config_path)
    tested = url_test(app, ref)
    app.close()
    if as_json:
        _echo_json(tested.as_dict())
    else:
        click.echo(format_result(tested.result))
    sys.exit(0 if tested.result.outcome is Outcome.VERIFIED else 1)


@clients.command("open")
@_config_option
@click.argument("ref")
@click.option("--no-browser", is_flag=True, help="Only print the URL.")
def clients_open(config_path: Path | None, ref: str, no_browser: bool) -> None:
    """Go to company: print the client URL and open it in a browser when there is a display."""
    from acchub_mailbot.app.clients import client_to_open

    app = _open_app(config_path)
    url, status = client_to_open(app, ref)
    app.close()
    if status in ("rejected", "needs_review"):
        click.echo(f"warning: this client is {status}; check it before opening", err=True)
    click.echo(url)
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or (
        sys.platform in ("darwin", "win32")
    )
    if not no_browser and has_display and status not in ("rejected",):
        webbrowser.open(url)


@clients.command("accept")
@_config_option
@click.argument("ref")
def clients_accept(config_path: Path | None, ref: str) -> None:
    """Mark that you have opened the access link and accepted the invitation."""
    from acchub_mailbot.app.clients import accept_client

    app = _open_app(config_path)
    cid, changed = accept_client(app, ref)
    app.close()
    click.echo(f"client {cid}: access accepted" + ("" if changed else " (already)"))


@clients.command("archive")
@_config_option
@click.argument("ref")
def clients_archive(config_path: Path | None, ref: str) -> None:
    """Archive a client (kept, hidden from the active list; a new invitation revives it)."""
    from acchub_mailbot.app.clients import archive_client

    app = _open_app(config_path)
    cid = archive_client(app, ref)
    app.close()
    click.echo(f"client {cid}: archived")


@clients.command("export")
@_config_option
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)
def clients_export(config_path: Path | None, fmt: str, output: Path | None) -> None:
    """Export every client as CSV or JSON."""
    from acchub_mailbot.app.clients import export_clients

    app = _open_app(config_path)
    text, count = export_clients(app, fmt)
    app.close()
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{count} client(s) written to {output}", err=True)
    else:
        click.echo(text, nl=False)
