"""``acchub-mailbot status``: health per mailbox, for a person or (``--json``) a monitor."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from acchub_mailbot.cli.common import (
    _config_option,
    _echo_json,
    _json_option,
    _open_app,
    _table,
    config_dir,
)


@click.command()
@_config_option
@_json_option
def status(config_path: Path | None, as_json: bool) -> None:
    """Health per mailbox and of sending; exits 1 when a mailbox has not polled successfully
    for 3 intervals, or when a failed send holds back a digest or a reply."""
    from acchub_mailbot.app.status import status_report

    app = _open_app(config_path)
    report = status_report(app, config_dir(config_path))
    app.close()
    rows = report["mailboxes"]
    if as_json:
        _echo_json(report)
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
        by_status = report["clients"]
        summary = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())) or "none"
        click.echo(f"clients: {summary}; digests waiting to be sent: {report['pending_digests']}")
        click.echo(_sending_line(report["sending"]))
        click.echo(f"live instances: {', '.join(report['instances']) or 'none'}")
        for r in rows:
            if r["poll_requested_at"]:
                click.echo(
                    f"poll requested for {r['mailbox']} at {r['poll_requested_at']} by "
                    f"{r['poll_requested_by']}: the instance holding it polls at its next heartbeat"
                )
    sys.exit(0 if report["healthy"] else 1)


def _sending_line(sending: dict[str, Any]) -> str:
    token = sending["token"]
    sign_in = f" (OAuth {token['grant']})" if token else ""
    if sending["healthy"]:
        return f"sending{sign_in}: ok"
    return (
        f"sending{sign_in}: FAILING, {sending['held_digests']} digests and "
        f"{sending['held_confirmations']} replies held back since {sending['held_since']}; "
        f"last error: {sending['last_error']}"
    )
