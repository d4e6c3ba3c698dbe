"""``acchub-mailbot failed`` and ``replay``: messages that need another try, and saved mail."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from acchub_mailbot.cli.common import _config_option, _echo_json, _json_option, _open_app, _table


@click.group()
def failed() -> None:
    """Messages that could not be processed: list them, or put them back for another try."""


@failed.command("list")
@_config_option
@_json_option
def failed_list(config_path: Path | None, as_json: bool) -> None:
    """Quarantined messages and messages waiting for a retry."""
    from acchub_mailbot.app.failures import failed_messages

    app = _open_app(config_path)
    data = failed_messages(app)
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
    from acchub_mailbot.app.failures import retry_messages

    if not ids and not retry_all:
        raise click.UsageError("give message IDs or --all")
    app = _open_app(config_path)
    count = retry_messages(app, None if retry_all else list(ids))
    app.close()
    click.echo(f"{count} message(s) will be retried at the next poll")


@click.command()
@_config_option
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only show the decisions; change nothing.")
@click.option("--mailbox", help="Record the outcome under this mailbox (default: the first).")
def replay(
    config_path: Path | None, sources: Sequence[Path], dry_run: bool, mailbox: str | None
) -> None:
    """Run saved mail (FILE.eml, a directory, or an mbox) through the same pipeline."""
    from acchub_mailbot.app import replay as replaying

    messages = [item for source in sources for item in replaying.saved_messages(source)]
    if dry_run:
        for decided in replaying.dry_run(messages):
            click.echo(
                f"{decided.name}: {decided.verdict}"
                + (f" {decided.client_url}" if decided.client_url else "")
            )
        click.echo(f"{len(messages)} message(s) decided; nothing was changed (--dry-run)")
        return
    app = _open_app(config_path)
    counts: dict[str, int] = {}
    skipped = 0
    for outcome in replaying.replay(app, messages, mailbox):
        if outcome.verdict is None:
            skipped += 1
            continue
        counts[outcome.verdict] = counts.get(outcome.verdict, 0) + 1
        click.echo(
            f"{outcome.name}: {outcome.verdict}" + (" (new client)" if outcome.created else "")
        )
    app.close()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing new"
    click.echo(f"{len(messages)} message(s): {summary}; {skipped} already replayed before")
