"""The command line: thin wrappers that parse arguments and call the application.

Exit codes: 0 success, 1 the operation ran but reported a problem (e.g. a URL did not verify,
a mailbox is unhealthy), 2 usage or configuration error.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from acchub_mailbot import __version__, paths
from acchub_mailbot.cli.auth import auth
from acchub_mailbot.cli.clients import clients
from acchub_mailbot.cli.common import (
    AppGroup,
    _apply_logging,
    _config_option,
    _echo_json,
    _json_option,
    _load,
    _open_app,
)
from acchub_mailbot.cli.digest import digest
from acchub_mailbot.cli.failed import failed, replay
from acchub_mailbot.cli.status import status
from acchub_mailbot.cli.tokens import tokens
from acchub_mailbot.cli.users import users
from acchub_mailbot.cli.web import web
from acchub_mailbot.logs import escape_controls, setup_logging


@click.group(
    cls=AppGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
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
        # Imported here: the scheduler and IDLE machinery cost start-up that --once never uses.
        from acchub_mailbot.service.scheduler import run_service

        sys.exit(run_service(app))
    finally:
        app.close()


# -- check-config ----------------------------------------------------------------------------


@main.command("check-config")
@_config_option
@click.option(
    "--online",
    is_flag=True,
    help="Also sign in to every IMAP server and the SMTP server once (send nothing).",
)
def check_config(config_path: Path | None, online: bool) -> None:
    """Validate the config, render the digest templates, and show what would run."""
    from acchub_mailbot.app.configcheck import check_config as check
    from acchub_mailbot.app.configcheck import check_online

    settings = _load(config_path)
    report = check(settings)
    for line in report.summary:
        click.echo(line)
    if report.problems:
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
        sys.exit(2)
    if online:
        signed = check_online(settings)
        for line in signed.summary:
            click.echo(line)
        for problem in signed.problems:
            click.echo(f"problem: {problem}", err=True)
        if signed.problems:
            sys.exit(1)  # the config is valid; a sign-in failed
    click.echo("config OK")


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


@main.command("init-config")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="config.yaml")
def init_config(path: Path) -> None:
    """Write a commented starter config (a copy of config.example.yaml)."""
    if path.exists():
        raise click.ClickException(f"{path} exists; not overwriting it")
    shutil.copyfile(paths.example_config(), path)
    path.chmod(0o600)
    click.echo(f"wrote {path}; edit it, then run: acchub-mailbot check-config -c {path}")


main.add_command(auth)
main.add_command(clients)
main.add_command(digest)
main.add_command(failed)
main.add_command(replay)
main.add_command(status)
main.add_command(tokens)
main.add_command(users)
main.add_command(web)
