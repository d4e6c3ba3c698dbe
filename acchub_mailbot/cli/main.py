"""The command line: thin wrappers that parse arguments and call the application.

Exit codes: 0 success, 1 the operation ran but reported a problem (e.g. a URL did not verify,
a mailbox is unhealthy), 2 usage or configuration error.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import webbrowser
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from acchub_mailbot import __version__, paths
from acchub_mailbot.cli.auth import auth
from acchub_mailbot.cli.common import (
    _apply_logging,
    _config_option,
    _echo_json,
    _json_option,
    _load,
    _open_app,
    _table,
)
from acchub_mailbot.logs import escape_controls, setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="acchub-mailbot")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default=None,
    help="Log level (default: from the config, else INFO).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines as human-readable text (default) or JSON lines.",
)
@click.pass_context
def main(ctx: click.Context, log_level: str | None, log_format: str | None) -> None:
    """Register Business Central clients from "Invite External Accountant" emails.

    acchub-mailbot reads the accountant's mailbox over IMAP, recognizes invitation emails (also
    forwarded, in any language, with links rewritten by mail gateways), verifies the client URL,
    registers the client, and sends a digest email saying what was added and what needs a person.

    \b
    Typical use:
      acchub-mailbot check-config -c config.yaml
      acchub-mailbot run -c config.yaml            # the service
      acchub-mailbot run -c config.yaml --once     # one poll, then the digest if due
      acchub-mailbot clients list -c config.yaml
      acchub-mailbot inspect --json invitation.eml
    """
    ctx.ensure_object(dict)
    ctx.obj["log_level"] = log_level
    ctx.obj["log_format"] = log_format
    setup_logging((log_level or "INFO").upper(), log_format or "text")


# -- run -------------------------------------------------------------------------------------


@main.command()
@_config_option
@click.option("--once", is_flag=True, help="Poll every mailbox once, send the digest if due, exit.")
def run(config_path: Path | None, once: bool) -> None:
    """Run the service (or one poll with --once)."""
    from acchub_mailbot.service.scheduler import run_service

    settings = _load(config_path)
    _apply_logging(settings)
    app = _open_app(config_path)
    try:
        if once:
            reports = app.poll_all()
            delivered = app.send_digests()
            for report in reports:
                if report.skipped:
                    click.echo(f"{report.mailbox}: not polled — {report.skipped}")
                    continue
                verdicts = ", ".join(f"{k} {v}" for k, v in sorted(report.verdicts.items()))
                status = f"error: {report.error}" if report.error else "ok"
                click.echo(
                    f"{report.mailbox}: {report.fetched} new message(s)"
                    f"{' (' + verdicts + ')' if verdicts else ''}, "
                    f"{report.registered} client(s) added — {status}"
                )
            for where in delivered:
                click.echo(f"digest sent: {where}")
            if any(r.error for r in reports):
                sys.exit(1)
            return
        sys.exit(run_service(app))
    finally:
        app.close()


# -- check-config ----------------------------------------------------------------------------


@main.command("check-config")
@_config_option
def check_config(config_path: Path | None) -> None:
    """Validate the config, render the digest templates, and show what would run."""
    from acchub_mailbot.report.confirmations import check_confirmation_templates
    from acchub_mailbot.report.templating import check_templates

    settings = _load(config_path)
    languages = {settings.digest.language} | {m.language for m in settings.mailboxes if m.language}
    languages |= {a.language for m in settings.mailboxes for a in m.accountants if a.language}
    problems = check_templates(settings.digest.templates_dir, languages)
    if any(m.confirm.enabled for m in settings.mailboxes):
        problems += check_confirmation_templates(settings.digest.templates_dir, languages)
    click.echo(f"database: {_redact_url(settings.database.url)}")
    for mailbox in settings.mailboxes:
        imap = mailbox.imap
        click.echo(
            f"mailbox {mailbox.name}: {imap.username} at {imap.host}:{imap.port} "
            f"({imap.security}), folder {imap.folder}, action {mailbox.action.type}, "
            f"digest to {', '.join(mailbox.digest_to) or '(nobody)'}"
            + ("" if imap.verify_tls else "  WARNING: TLS verification is off")
        )
    if settings.smtp:
        click.echo(f"smtp: {settings.smtp.host}:{settings.smtp.port} ({settings.smtp.security})")
    else:
        click.echo(
            f"smtp: none — digests are written to {settings.digest.output_dir or '(nowhere!)'}"
        )
    click.echo(
        f"digest: {settings.digest.schedule} ({settings.digest.timezone}), "
        f"language {settings.digest.language}"
    )
    click.echo(f"live URL check: {'on' if settings.verification.live_check else 'off'}")
    if not settings.mailboxes:
        problems.append("mailboxes: no mailbox configured — add at least one under mailboxes:")
    if settings.smtp is None and settings.digest.output_dir is None:
        problems.append("smtp: no SMTP server and no digest.output_dir — digests cannot go out")
    if problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        sys.exit(2)
    click.echo("config OK")


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


# -- inspect ---------------------------------------------------------------------------------


@main.command()
@_json_option
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def inspect(as_json: bool, files: Sequence[Path]) -> None:
    """Show what acchub-mailbot would decide for saved emails (.eml). No config, no network."""
    from acchub_mailbot.app.inspect import inspect_bytes

    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            result: dict[str, Any] = {
                "path": str(path),
                "message_id": None,
                "verdict": "needs_review",
                "company_name": None,
                "client_url": None,
                "access_link": None,
                "add_client_link": None,
                "reasons": [f"cannot read file: {exc.strerror}"],
            }
        else:
            result = dict(inspect_bytes(raw, str(path)))
        if as_json:
            _echo_json(result)
            continue
        click.echo(f"{path}: {result['verdict']}")
        for key in ("message_id", "company_name", "client_url", "access_link", "add_client_link"):
            if result.get(key):
                click.echo(f"  {key}: {escape_controls(str(result[key]))}")
        for reason in result.get("reasons") or []:
            click.echo(f"  - {escape_controls(str(reason))}")


# -- clients ---------------------------------------------------------------------------------


@main.group()
def clients() -> None:
    """The Clients window: list, show, add, edit, test and open clients."""


def _client_rows(items: Sequence[Any]) -> str:
    return _table(
        [
            (
                c.id,
                c.name,
                c.client_url,
                c.status,
                "yes" if c.access_accepted else "no",
                c.verification_outcome or "-",
            )
            for c in items
        ],
        ("ID", "NAME", "CLIENT URL", "STATUS", "ACCEPTED", "URL TEST"),
    )


@clients.command("list")
@_config_option
@_json_option
@click.option(
    "--status",
    type=click.Choice(
        ["pending_verification", "registered", "needs_review", "rejected", "archived"]
    ),
    help="Only clients with this status.",
)
@click.option("--owner", metavar="ADDRESS", help="Only clients forwarded by this accountant.")
def clients_list(
    config_path: Path | None, as_json: bool, status: str | None, owner: str | None
) -> None:
    """List clients."""
    from acchub_mailbot.store import owners, registry

    app = _open_app(config_path)
    with app.sessions() as session:
        items = registry.list_clients(session, status=status)
        if owner:
            owned = {c.id for c in owners.clients_of_owner(session, owner)}
            items = [c for c in items if c.id in owned]
        if as_json:
            _echo_json(
                [registry.client_as_dict(c, owners=owners.owners_of(session, c.id)) for c in items]
            )
        elif items:
            click.echo(_client_rows(items))
        else:
            click.echo("no clients" + (f" with status {status}" if status else ""))
    app.close()


def _find(session: Any, ref: str) -> Any:
    from acchub_mailbot.store import registry

    try:
        return registry.find_client(session, ref)
    except registry.ClientNotFound as exc:
        raise click.ClickException(str(exc)) from None


@clients.command("show")
@_config_option
@_json_option
@click.argument("ref")
def clients_show(config_path: Path | None, as_json: bool, ref: str) -> None:
    """Show one client card (by ID or client URL) with its history."""
    from acchub_mailbot.store import owners, registry

    app = _open_app(config_path)
    with app.sessions() as session:
        found = _find(session, ref)
        data = registry.client_as_dict(
            found, with_history=True, owners=owners.owners_of(session, found.id)
        )
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


def _client_fields(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


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
    name: str,
    contact_name: str | None,
    contact_email: str | None,
    phone: str | None,
    notes: str | None,
    access_link: str | None,
    no_test: bool,
) -> None:
    """New client by hand. The URL is verified like an automatic one."""
    from acchub_mailbot.core.urlrules import check_client_url
    from acchub_mailbot.store import registry

    rule = check_client_url(url, allow_environment=True)
    if not rule.ok or rule.client_url is None:
        raise click.ClickException(f"client URL refused: {rule.reason}")
    app = _open_app(config_path)
    live = app.settings.verification.live_check and not no_test
    with app.sessions.begin() as session:
        try:
            client = registry.add_client(
                session,
                client_url=rule.client_url,
                tenant=rule.tenant,
                fields=_client_fields(
                    name=name,
                    contact_name=contact_name,
                    contact_email=contact_email,
                    phone=phone,
                    notes=notes,
                    access_link=access_link,
                ),
                status="pending_verification" if live else "registered",
                actor="cli",
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        client.mailbox = app.settings.mailboxes[0].name if app.settings.mailboxes else None
        client_id = client.id
    if live:
        result = app.checker.check(rule.client_url)
        app.record_verification(client_id, result, actor="cli")
    with app.sessions() as session:
        data = registry.client_as_dict(_find(session, str(client_id)))
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
@click.option(
    "--status",
    type=click.Choice(
        ["pending_verification", "registered", "needs_review", "rejected", "archived"]
    ),
)
def clients_edit(config_path: Path | None, as_json: bool, ref: str, **fields: Any) -> None:
    """Change fields of a client card. Edited fields are never overwritten by later invitations."""
    from acchub_mailbot.core.urlrules import check_client_url
    from acchub_mailbot.store import registry

    changes = _client_fields(**fields)
    if not changes:
        raise click.UsageError("nothing to change: give at least one --field value")
    if "client_url" in changes:
        rule = check_client_url(changes["client_url"], allow_environment=True)
        if not rule.ok:
            raise click.ClickException(f"client URL refused: {rule.reason}")
        changes["client_url"] = rule.client_url
    app = _open_app(config_path)
    with app.sessions.begin() as session:
        client = _find(session, ref)
        try:
            applied = registry.edit_client(session, client, changes, actor="cli")
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        data = registry.client_as_dict(client)
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
    from acchub_mailbot.verify.urlcheck import Outcome, format_result

    app = _open_app(config_path)
    client_id: int | None = None
    url = ref
    if ref.isdigit() or not ref.lower().startswith(("http://", "https://")):
        with app.sessions() as session:
            client = _find(session, ref)
            client_id, url = client.id, client.client_url
    else:
        from acchub_mailbot.store import registry

        with app.sessions() as session:
            try:
                client = registry.find_client(session, ref)
                client_id = client.id
            except registry.ClientNotFound:
                client_id = None
    result = app.checker.check(url)
    if client_id is not None:
        app.record_verification(client_id, result, actor="cli")
    app.close()
    if as_json:
        _echo_json(
            {
                "url": url,
                "outcome": result.outcome.value,
                "reason": result.reason,
                "checked": list(result.checked),
                "final_url": result.final_url,
                "checked_at": result.checked_at.isoformat(),
            }
        )
    else:
        click.echo(format_result(result))
    sys.exit(0 if result.outcome is Outcome.VERIFIED else 1)


@clients.command("open")
@_config_option
@click.argument("ref")
@click.option("--no-browser", is_flag=True, help="Only print the URL.")
def clients_open(config_path: Path | None, ref: str, no_browser: bool) -> None:
    """Go to company: print the client URL and open it in a browser when there is a display."""
    app = _open_app(config_path)
    with app.sessions() as session:
        client = _find(session, ref)
        url, status = client.client_url, client.status
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
    from acchub_mailbot.store import registry

    app = _open_app(config_path)
    with app.sessions.begin() as session:
        client = _find(session, ref)
        changed = registry.set_accepted(session, client, actor="cli")
        cid = client.id
    app.close()
    click.echo(f"client {cid}: access accepted" + ("" if changed else " (already)"))


@clients.command("archive")
@_config_option
@click.argument("ref")
def clients_archive(config_path: Path | None, ref: str) -> None:
    """Archive a client (kept, hidden from the active list; a new invitation revives it)."""
    from acchub_mailbot.store import registry

    app = _open_app(config_path)
    with app.sessions.begin() as session:
        client = _find(session, ref)
        registry.set_status(session, client, "archived", actor="cli", action="archived")
        cid = client.id
    app.close()
    click.echo(f"client {cid}: archived")


EXPORT_COLUMNS = (
    "id", "name", "client_url", "tenant", "status", "access_accepted", "access_link",
    "add_client_link", "contact_name", "contact_email", "phone", "notes", "created_at",
    "updated_at",
)  # fmt: skip


#: First characters that make a spreadsheet treat a CSV cell as a formula (OWASP list). A tuple,
#: not a string: ``"" in "=+-@"`` is true and would mangle empty values.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    from acchub_mailbot.store import registry

    app = _open_app(config_path)
    with app.sessions() as session:
        data = [registry.client_as_dict(c) for c in registry.list_clients(session)]
    app.close()
    if fmt == "json":
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in data:
            # A leading = + - @ (or tab, CR) would make spreadsheets run the cell as a formula.
            writer.writerow(
                {
                    k: ("'" + v if isinstance(v, str) and v[:1] in _FORMULA_STARTS else v)
                    for k, v in row.items()
                }
            )
        text = buffer.getvalue()
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{len(data)} client(s) written to {output}", err=True)
    else:
        click.echo(text, nl=False)


# -- digest ----------------------------------------------------------------------------------


@main.group()
def digest() -> None:
    """Preview or send the digest email."""


@digest.command("preview")
@_config_option
@click.option("--mailbox", help="Mailbox name (default: the first).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "html"]), default="text", show_default=True
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def digest_preview(
    config_path: Path | None, mailbox: str | None, fmt: str, out: Path | None
) -> None:
    """Render what would be sent now, without sending or consuming events."""
    from acchub_mailbot.app.delivery import render_for
    from acchub_mailbot.store.events import unassigned_events
    from acchub_mailbot.store.models import utcnow

    app = _open_app(config_path)
    target = app.settings.mailbox(mailbox) if mailbox else (app.mailboxes() or [None])[0]
    if target is None:
        raise click.ClickException("no mailbox configured")
    with app.sessions() as session:
        events = unassigned_events(session, target.name)
        rendered, empty = render_for(session, app.settings, target, events, utcnow())
    app.close()
    body = rendered.html if fmt == "html" else f"Subject: {rendered.subject}\n\n{rendered.text}"
    if out:
        out.write_text(body, encoding="utf-8")
        click.echo(f"written to {out}", err=True)
    else:
        click.echo(body)
    if empty:
        click.echo(
            "(nothing to report: no digest would be sent unless digest.send_empty)", err=True
        )


@digest.command("send-now")
@_config_option
@click.option("--mailbox", help="Only this mailbox.")
def digest_send_now(config_path: Path | None, mailbox: str | None) -> None:
    """Send the digest now, whatever the schedule."""
    app = _open_app(config_path)
    delivered = app.send_digests(force=True, name=mailbox)
    app.close()
    for where in delivered:
        click.echo(f"digest sent: {where}")
    if not delivered:
        click.echo("no digest delivered (see the log for why)")
        sys.exit(1)


# -- status ----------------------------------------------------------------------------------


@main.command()
@_config_option
@_json_option
def status(config_path: Path | None, as_json: bool) -> None:
    """Health per mailbox; exits 1 when a mailbox has not polled successfully for 3 intervals."""
    from sqlalchemy import func, select

    from acchub_mailbot.store import leases, registry
    from acchub_mailbot.store.models import Digest, MailboxState, ProcessedMessage

    app = _open_app(config_path)
    now = datetime.now(UTC)
    interval = app.settings.poll.interval_seconds
    rows = []
    unhealthy = False
    with app.sessions() as session:
        holders = {
            lease.mailbox: lease.holder
            for lease in leases.holders(session)
            if lease.expires_at > now
        }
        live = leases.live_instances(session, app.lease_ttl)
        for mailbox in app.settings.mailboxes:
            state = session.get(MailboxState, mailbox.name)
            counts = dict(
                session.execute(
                    select(ProcessedMessage.state, func.count())
                    .where(ProcessedMessage.mailbox == mailbox.name)
                    .group_by(ProcessedMessage.state)
                ).all()
            )
            last_ok = state.last_success_at if state else None
            healthy = last_ok is not None and (now - last_ok).total_seconds() <= 3 * interval
            unhealthy = unhealthy or (mailbox.enabled and not healthy)
            rows.append(
                {
                    "mailbox": mailbox.name,
                    "healthy": healthy,
                    "last_poll_at": state.last_poll_at.isoformat()
                    if state and state.last_poll_at
                    else None,
                    "last_success_at": last_ok.isoformat() if last_ok else None,
                    "last_error": state.last_error if state else None,
                    "last_uid": state.last_uid if state else None,
                    "uidvalidity": state.uidvalidity if state else None,
                    "backlog": counts.get("seen", 0) + counts.get("failed", 0),
                    "quarantined": counts.get("quarantined", 0),
                    "handled": counts.get("done", 0) + counts.get("decided", 0),
                    "held_by": holders.get(mailbox.name),
                    "token": _token_status(mailbox, config_path),
                }
            )
        clients_by_status = registry.count_by_status(session)
        pending_digests = session.scalar(
            select(func.count()).select_from(Digest).where(Digest.status == "pending")
        )
    app.close()
    if as_json:
        _echo_json(
            {
                "healthy": not unhealthy,
                "mailboxes": rows,
                "clients": clients_by_status,
                "pending_digests": pending_digests,
                "instances": live,
            }
        )
    else:
        click.echo(
            _table(
                [
                    (
                        r["mailbox"],
                        "ok" if r["healthy"] else "UNHEALTHY",
                        r["last_success_at"] or "never",
                        r["handled"],
                        r["backlog"],
                        r["quarantined"],
                        r["last_error"] or "",
                    )
                    for r in rows
                ],
                (
                    "MAILBOX",
                    "HEALTH",
                    "LAST SUCCESS",
                    "HANDLED",
                    "BACKLOG",
                    "QUARANTINED",
                    "LAST ERROR",
                ),
            )
        )
        summary = ", ".join(f"{k} {v}" for k, v in sorted(clients_by_status.items())) or "none"
        click.echo(f"clients: {summary}; digests waiting to be sent: {pending_digests}")
        click.echo(f"live instances: {', '.join(live) or 'none'}")
    sys.exit(1 if unhealthy else 0)


def _token_status(mailbox: Any, config_path: Path | None) -> dict[str, Any] | None:
    """The OAuth token's state as stored (no network): signed in, expiry, last error."""
    oauth = getattr(mailbox.imap, "oauth", None)
    if oauth is None:
        return None
    from acchub_mailbot.cli.auth import _config_dir, store_for
    from acchub_mailbot.mail.oauth.provider import TokenProvider

    store = store_for(mailbox.name, oauth, _config_dir(config_path))
    with TokenProvider(oauth, store, mailbox=mailbox.name) as provider:
        row = provider.status().as_dict()
    return {k: row.get(k) for k in ("signed_in", "expires_at", "last_refresh_at", "last_error")}


@main.command("init-config")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="config.yaml")
def init_config(path: Path) -> None:
    """Write a commented starter config (a copy of config.example.yaml)."""
    if path.exists():
        raise click.ClickException(f"{path} exists; not overwriting it")
    shutil.copyfile(paths.example_config(), path)
    path.chmod(0o600)
    click.echo(f"wrote {path}; edit it, then run: acchub-mailbot check-config -c {path}")


# -- failed / replay -------------------------------------------------------------------------


@main.group()
def failed() -> None:
    """Messages that could not be processed: list them, or put them back for another try."""


@failed.command("list")
@_config_option
@_json_option
def failed_list(config_path: Path | None, as_json: bool) -> None:
    """Quarantined messages and messages waiting for a retry."""
    from sqlalchemy import select

    from acchub_mailbot.store.models import ProcessedMessage

    app = _open_app(config_path)
    with app.sessions() as session:
        rows = session.scalars(
            select(ProcessedMessage)
            .where(ProcessedMessage.state.in_(("failed", "quarantined", "retry_requested")))
            .order_by(ProcessedMessage.id)
        ).all()
        data = [
            {
                "id": r.id,
                "mailbox": r.mailbox,
                "folder": r.folder,
                "uid": r.uid,
                "state": r.state,
                "attempts": r.attempts,
                "message_id": r.message_id,
                "subject": r.subject,
                "last_error": r.last_error,
                "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
            }
            for r in rows
        ]
    app.close()
    if as_json:
        _echo_json(data)
    elif data:
        click.echo(
            _table(
                [
                    (
                        d["id"],
                        d["mailbox"],
                        d["state"],
                        d["attempts"],
                        d["subject"],
                        d["last_error"],
                    )
                    for d in data
                ],
                ("ID", "MAILBOX", "STATE", "TRIES", "SUBJECT", "LAST ERROR"),
            )
        )
    else:
        click.echo("no failed or quarantined messages")


@failed.command("retry")
@_config_option
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Every quarantined or failed message.")
def failed_retry(config_path: Path | None, ids: Sequence[int], retry_all: bool) -> None:
    """Process these messages again at the next poll (IDs from `failed list`)."""
    from sqlalchemy import select

    from acchub_mailbot.store.models import ProcessedMessage

    if not ids and not retry_all:
        raise click.UsageError("give message IDs or --all")
    app = _open_app(config_path)
    count = 0
    with app.sessions.begin() as session:
        query = select(ProcessedMessage).where(
            ProcessedMessage.state.in_(("failed", "quarantined"))
        )
        if not retry_all:
            query = query.where(ProcessedMessage.id.in_(list(ids)))
        for row in session.scalars(query).all():
            if row.state == "quarantined" and row.action_done:
                # It sits in the quarantine folder: the next poll moves it back as new mail.
                row.state = "retry_requested"
            else:
                row.state = "failed"
                row.action_done = False
            row.attempts = 0
            row.next_attempt_at = None
            count += 1
    app.close()
    click.echo(f"{count} message(s) will be retried at the next poll")


def _saved_messages(source: Path) -> list[tuple[str, bytes]]:
    """(name, raw bytes) of every message in an .eml file, a directory of them, or an mbox."""
    import mailbox as mbox_format

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


@main.command()
@_config_option
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only show the decisions; change nothing.")
@click.option("--mailbox", help="Record the outcome under this mailbox (default: the first).")
def replay(
    config_path: Path | None, sources: Sequence[Path], dry_run: bool, mailbox: str | None
) -> None:
    """Run saved mail (FILE.eml, a directory, or an mbox) through the same pipeline."""
    import hashlib

    from acchub_mailbot.app.inspect import inspect_bytes

    messages = [item for source in sources for item in _saved_messages(source)]
    if dry_run:
        for name, raw in messages:
            result = inspect_bytes(raw, name)
            click.echo(
                f"{name}: {result['verdict']}"
                + (f" {result['client_url']}" if result.get("client_url") else "")
            )
        click.echo(f"{len(messages)} message(s) decided; nothing was changed (--dry-run)")
        return
    from acchub_mailbot.app.pipeline import MailboxRules, apply_message
    from acchub_mailbot.store.models import ProcessedMessage, utcnow

    app = _open_app(config_path)
    target = mailbox or (app.settings.mailboxes[0].name if app.settings.mailboxes else "replay")
    known = [m for m in app.settings.mailboxes if m.name == target]
    rules = MailboxRules.of(app.settings, known[0]) if known else None
    counts: dict[str, int] = {}
    skipped = 0
    for name, raw in messages:
        # A replayed message is keyed by its content, so replaying the same file twice is a no-op.
        uid = int.from_bytes(hashlib.sha256(raw).digest()[:7], "big")
        with app.sessions.begin() as session:
            from sqlalchemy import select

            existing = session.scalar(
                select(ProcessedMessage).where(
                    ProcessedMessage.mailbox == target,
                    ProcessedMessage.folder == "(replay)",
                    ProcessedMessage.uidvalidity == 0,
                    ProcessedMessage.uid == uid,
                )
            )
            if existing is not None:
                skipped += 1
                continue
            row = ProcessedMessage(
                mailbox=target,
                folder="(replay)",
                uidvalidity=0,
                uid=uid,
                state="seen",
                attempts=0,
                reasons={},
                action_done=True,
            )
            session.add(row)
            session.flush()
            applied = apply_message(
                session,
                row,
                raw,
                live_check=app.settings.verification.live_check,
                now=utcnow(),
                rules=rules,
            )
            row.state = "done"
        counts[applied.verdict] = counts.get(applied.verdict, 0) + 1
        click.echo(f"{name}: {applied.verdict}" + (" (new client)" if applied.created else ""))
    if app.settings.verification.live_check:
        app.verify_pending()
    app.close()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing new"
    click.echo(f"{len(messages)} message(s): {summary}; {skipped} already replayed before")


main.add_command(auth)
