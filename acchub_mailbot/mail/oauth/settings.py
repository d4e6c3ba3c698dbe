"""OAuth settings of a mailbox, the provider defaults and the checks on them.

Pure (no HTTP, TLS or IMAP imports): the config module imports it, and loading a config
should not load the HTTP client.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from acchub_mailbot.mail.oauth.errors import OAuthPermanentError

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MICROSOFT_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
#: Sending (``smtp.oauth``) asks for its own scope at Microsoft; Google's one scope covers both.
MICROSOFT_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send offline_access"
#: What an app registration is granted at Exchange Online (IMAP.AccessAsApp, SMTP.SendAsApp).
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
GOOGLE_DEVICE_ENDPOINT = "https://oauth2.googleapis.com/device/code"


#: The token store name of the sending sign-in (``smtp.oauth``): no mailbox name can take it,
#: since mailbox names have no ``@``.
SMTP_TOKEN_NAME = "@smtp"  # noqa: S105 - a file name, not a secret


def login_hint(mailbox: str) -> str:
    """The command that gives a mailbox (or the sending sign-in) a new refresh token."""
    if mailbox == SMTP_TOKEN_NAME:
        return "run `acchub-mailbot auth login --smtp`"
    return f"run `acchub-mailbot auth login --mailbox {mailbox}`"


class OAuthSettings(BaseModel):
    """How a mailbox gets its access tokens (``mailboxes[].imap.oauth`` in the config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["microsoft", "google", "custom"] = "microsoft"
    tenant: str = Field(default="organizations", pattern=r"^[A-Za-z0-9._-]+$")
    #: ``device_code``: a person signs in once and the refresh token is kept. The app-only
    #: grants keep nothing: ``client_credentials`` (Microsoft, a secret or a certificate) and
    #: ``service_account`` (Google, domain-wide delegation, the mailbox as the subject).
    grant: Literal["device_code", "client_credentials", "service_account"] = "device_code"
    client_id: str = Field(min_length=1)
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    #: PEM with the certificate and its private key: a signed client assertion (RFC 7523).
    client_certificate_file: Path | None = None
    #: The service account's JSON key file (``client_email``, ``private_key``).
    service_account_file: Path | None = None
    token_endpoint: str | None = None
    device_endpoint: str | None = None
    scope: str | None = None
    token_store: Path | None = None
    ca_file: Path | None = None

    @field_validator("token_endpoint", "device_endpoint")
    @classmethod
    def _safe_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_endpoint_url(value)
        return value

    @model_validator(mode="after")
    def _custom_needs_endpoint(self) -> OAuthSettings:
        if self.provider == "custom" and self.token_endpoint is None:
            raise ValueError("provider custom needs token_endpoint: URL")
        secrets = [self.client_secret_env, self.client_secret_file, self.client_certificate_file]
        if sum(x is not None for x in secrets) > 1:
            raise ValueError(
                "set one of client_secret_env, client_secret_file and client_certificate_file"
            )
        if self.grant == "client_credentials" and not any(x is not None for x in secrets):
            raise ValueError(
                "grant client_credentials needs the app's credential — fix: set "
                "client_secret_env, client_secret_file or client_certificate_file"
            )
        if self.grant == "service_account" and self.service_account_file is None:
            raise ValueError(
                "grant service_account needs service_account_file: the JSON key of the "
                "service account"
            )
        return self

    @property
    def app_only(self) -> bool:
        """Signs in as the application: nothing to store, no person to sign in."""
        return self.grant != "device_code"

    @property
    def resolved_token_endpoint(self) -> str:
        if self.token_endpoint:
            return self.token_endpoint
        if self.provider == "google":
            return GOOGLE_TOKEN_ENDPOINT
        return f"https://login.microsoftonline.com/{self.tenant}/oauth2/v2.0/token"

    @property
    def resolved_device_endpoint(self) -> str | None:
        if self.device_endpoint:
            return self.device_endpoint
        if self.provider == "google":
            return GOOGLE_DEVICE_ENDPOINT
        if self.provider == "microsoft":
            return f"https://login.microsoftonline.com/{self.tenant}/oauth2/v2.0/devicecode"
        return None

    @property
    def resolved_scope(self) -> str | None:
        if self.scope:
            return self.scope
        if self.grant == "client_credentials" and self.provider == "microsoft":
            return MICROSOFT_APP_SCOPE
        return {"microsoft": MICROSOFT_SCOPE, "google": GOOGLE_SCOPE}.get(self.provider)

    def client_secret(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The client secret (``client_secret_env`` or ``_file``); None for a public client."""
        if self.client_secret_file is not None:
            try:
                from_file = self.client_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise OAuthPermanentError(
                    f"oauth.client_secret_file: cannot read {self.client_secret_file} "
                    f"({exc.strerror}) — fix: point it at the file that holds the secret"
                ) from None
            if from_file:
                return from_file
            raise OAuthPermanentError(
                f"oauth.client_secret_file: {self.client_secret_file} is empty — fix: put the "
                "app's client secret in it"
            )
        if self.client_secret_env is None:
            return None
        environ = os.environ if environ is None else environ
        value = environ.get(self.client_secret_env)
        if not value:
            raise OAuthPermanentError(
                f"oauth.client_secret_env: the environment variable {self.client_secret_env} "
                f"is not set — fix: export {self.client_secret_env}=... before starting"
            )
        return value


def check_endpoint_url(url: str) -> None:
    """Refuse an endpoint that would send tokens in clear text to anything but loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        if host == "localhost":
            return
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                return
    raise ValueError(f"{url!r} must be an https:// URL (http:// only for a loopback address)")


def default_token_store(mailbox: str, base_dir: Path) -> Path:
    """Where a mailbox's refresh token lives when ``token_store`` is not configured."""
    return base_dir / "tokens" / f"{mailbox}.json"
