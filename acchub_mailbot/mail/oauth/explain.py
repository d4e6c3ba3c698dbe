"""What a refused sign-in means, as one line a person can act on.

Microsoft's identity platform puts an ``AADSTS`` number in ``error_description``; Google answers
with the RFC 6749 codes and a short description. The common ones are mapped to their fix; the
rest fall back to the RFC 6749 code. Pure: the provider passes in what the server said.
"""

from __future__ import annotations

import re

from acchub_mailbot.mail.oauth.settings import OAuthSettings, login_hint

_AADSTS = re.compile(r"AADSTS(\d+)")

#: AADSTS numbers and what to do about them.
MICROSOFT_FIXES: dict[str, str] = {
    "7000215": "the client secret is wrong or expired — create a new one under the app "
    "registration's Certificates & secrets and update oauth.client_secret_env/_file",
    "7000222": "the client secret has expired — create a new one under the app registration's "
    "Certificates & secrets and update oauth.client_secret_env/_file",
    "700027": "the certificate's signature was refused — upload this certificate "
    "(oauth.client_certificate_file) to the app registration, and check the clock",
    "700024": "the client assertion is out of its time window — check this machine's clock",
    "7000218": "the app needs its credential — set client_secret_env, client_secret_file or "
    "client_certificate_file",
    "700016": "no such application in this tenant — check oauth.client_id and oauth.tenant",
    "90002": "no such tenant — check oauth.tenant (the tenant ID or its domain)",
    "65001": "the app's permissions have no consent yet — an admin must grant admin consent "
    "for it (API permissions, Grant admin consent)",
    "650057": "the app does not ask for this resource — add the Office 365 Exchange Online "
    "permission (IMAP.AccessAsApp / SMTP.SendAsApp) and grant admin consent",
    "500011": "the resource is not in the tenant — check the scope "
    "(https://outlook.office365.com/.default)",
    "50076": "sign-in needs multi-factor authentication again",
    "50079": "sign-in needs multi-factor authentication again",
    "700082": "the refresh token expired after 90 days without use",
    "70008": "the refresh token expired or was revoked",
    "50173": "the refresh token was revoked (password changed or sessions revoked)",
    "53003": "Conditional Access blocked the sign-in — ask the tenant's admin to allow this app",
}
#: Of those, the ones a new interactive sign-in fixes.
_SIGN_IN_AGAIN = frozenset({"50076", "50079", "700082", "70008", "50173"})


def explain(error: str | None, description: str, settings: OAuthSettings, mailbox: str) -> str:
    """The fix for a refused token request, for logs, ``status`` and the digest."""
    match = _AADSTS.search(description)
    if match and match.group(1) in MICROSOFT_FIXES:
        code = match.group(1)
        fix = MICROSOFT_FIXES[code]
        if code in _SIGN_IN_AGAIN and not settings.app_only:
            return f"{fix} — {login_hint(mailbox)}"
        return fix
    text = description.lower()
    if settings.grant == "service_account":
        if error == "unauthorized_client":
            return (
                "domain-wide delegation is not granted — in the Google Admin console (Security, "
                "API controls, Domain-wide delegation) add the service account's client ID "
                f"with the scope {settings.resolved_scope}"
            )
        if error == "invalid_grant" and ("email" in text or "user" in text):
            return "the mailbox address is not a user of the Google Workspace domain"
        if error == "invalid_grant":
            return "the service account key was refused — check it is current (not deleted)"
    if error in ("invalid_client", "unauthorized_client"):
        return "the client was refused — check oauth.client_id and the app's credential"
    if error == "invalid_request":
        return "the token request was refused — check oauth.client_id, oauth.scope and the grant"
    if error == "invalid_scope":
        return f"the scope was refused — check oauth.scope ({settings.resolved_scope})"
    if settings.app_only:
        return "the app's sign-in was refused — check its credential and permissions"
    return login_hint(mailbox)


def refused_token_fix(settings: OAuthSettings, username: str, protocol: str) -> str:
    """The fix when the mail server refuses even a fresh token: an app-only token is good but
    the mailbox was not granted to the app; a delegated one lacks the user or the scope."""
    if settings.app_only:
        permission = "IMAP.AccessAsApp" if protocol == "IMAP" else "SMTP.SendAsApp"
        return (
            f"check that the app has been granted this mailbox ({username}): in Exchange Online "
            "PowerShell, New-ServicePrincipal for the app and Add-MailboxPermission for the "
            f"mailbox, with {permission} consented; for Google, that the service account's "
            "domain-wide delegation has the scope"
        )
    scope = "IMAP" if protocol == "IMAP" else "SMTP.Send"
    enabled = "" if protocol == "IMAP" else " and that SMTP AUTH is enabled for the mailbox"
    return f"check that the token was issued for {username} with the {scope} scope{enabled}"


__all__ = ["MICROSOFT_FIXES", "explain", "refused_token_fix"]
