"""``check-config`` as a use case: what the config will run, and every problem found in it."""

from __future__ import annotations

from dataclasses import dataclass, field

from acchub_mailbot.config import Settings
from acchub_mailbot.report.confirmations import check_confirmation_templates
from acchub_mailbot.report.templating import check_templates
from acchub_mailbot.store.database import redacted_url

#: Servers that no longer take a password for client submission, and what to use instead.
PASSWORDLESS_SMTP = {
    "smtp.office365.com": "Exchange Online refuses passwords for SMTP AUTH (550 5.7.30 Basic "
    "authentication is not supported for Client Submission) — use smtp.oauth",
    "smtp-mail.outlook.com": "Outlook.com refuses passwords for SMTP AUTH — use smtp.oauth",
    "smtp.gmail.com": "Google Workspace and Gmail refuse passwords for SMTP — use smtp.oauth",
}


@dataclass(frozen=True)
class ConfigReport:
    """Lines that describe the setup (no secret in them) and the problems that stop it."""

    summary: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_config(settings: Settings) -> ConfigReport:
    """Render every template in every language in use and describe what would run."""
    languages = {settings.digest.language} | {m.language for m in settings.mailboxes if m.language}
    languages |= {a.language for m in settings.mailboxes for a in m.accountants if a.language}
    problems = check_templates(settings.digest.templates_dir, languages)
    if any(m.confirm.enabled for m in settings.mailboxes):
        problems += check_confirmation_templates(settings.digest.templates_dir, languages)
    summary = [f"database: {redacted_url(settings.database.url)}"]
    for mailbox in settings.mailboxes:
        imap = mailbox.imap
        summary.append(
            f"mailbox {mailbox.name}: {imap.username} at {imap.host}:{imap.port} "
            f"({imap.security}), folder {imap.folder}, action {mailbox.action.type}, "
            f"digest to {', '.join(mailbox.digest_to) or '(nobody)'}"
            + ("" if imap.verify_tls else "  WARNING: TLS verification is off")
        )
    if settings.smtp:
        smtp = settings.smtp
        how = f", OAuth ({smtp.oauth.provider})" if smtp.oauth else ""
        summary.append(f"smtp: {smtp.host}:{smtp.port} ({smtp.security}{how})")
        host = smtp.host.lower().rstrip(".")
        if smtp.oauth is None and smtp.username and host in PASSWORDLESS_SMTP:
            summary.append(f"  WARNING: {PASSWORDLESS_SMTP[host]}")
    else:
        summary.append(
            f"smtp: none — digests are written to {settings.digest.output_dir or '(nowhere!)'}"
        )
    summary.append(
        f"digest: {settings.digest.schedule} ({settings.digest.timezone}), "
        f"language {settings.digest.language}"
    )
    summary.append(f"live URL check: {'on' if settings.verification.live_check else 'off'}")
    if not settings.mailboxes:
        problems.append("mailboxes: no mailbox configured — add at least one under mailboxes:")
    if settings.smtp is None and settings.digest.output_dir is None:
        problems.append("smtp: no SMTP server and no digest.output_dir — digests cannot go out")
    return ConfigReport(summary, problems)


def check_online(settings: Settings) -> ConfigReport:
    """Sign in to every mailbox's IMAP server and to the SMTP server once, then log out.

    Nothing is read, marked or sent; each failure is one line with what the server or the
    token endpoint said, and the fix where one is known.
    """
    from acchub_mailbot.mail.inbox import Inbox
    from acchub_mailbot.mail.outbox import sign_in

    summary: list[str] = []
    problems: list[str] = []
    for mailbox in settings.mailboxes:
        imap = mailbox.imap
        where = f"mailbox {mailbox.name}: IMAP {imap.username} at {imap.host}:{imap.port}"
        try:
            with Inbox(imap, mailbox=mailbox.name):
                pass
        except Exception as exc:  # every failure is reported, none stops the others
            problems.append(f"{where}: sign-in failed: {exc}")
        else:
            how = f"OAuth {imap.oauth.grant}" if imap.oauth else "password"
            summary.append(f"{where}: signed in ({how}) and logged out")
    if settings.smtp is not None:
        smtp = settings.smtp
        where = f"smtp: {smtp.username or '(no login)'} at {smtp.host}:{smtp.port}"
        try:
            sign_in(smtp)
        except Exception as exc:
            problems.append(f"{where}: sign-in failed: {exc}")
        else:
            how = f"OAuth {smtp.oauth.grant}" if smtp.oauth else "password"
            summary.append(f"{where}: signed in ({how}) and logged out, nothing sent")
    return ConfigReport(summary, problems)
