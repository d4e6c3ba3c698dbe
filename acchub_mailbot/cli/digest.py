"""``acchub-mailbot digest``: preview the digest email, or send it now."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from acchub_mailbot.cli.common import _config_option, _open_app


@click.group()
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
    from acchub_mailbot.app.digests import preview_digest

    app = _open_app(config_path)
    rendered, empty = preview_digest(app, mailbox)
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
    from acchub_mailbot.app.digests import send_digests_now

    app = _open_app(config_path)
    delivered = send_digests_now(app, mailbox)
    app.close()
    for where in delivered:
        click.echo(f"digest sent: {where}")
    if not delivered:
        click.echo("no digest delivered (see the log for why)")
        sys.exit(1)
