"""Provider error codes to one line a person can act on, and the app-only token requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from acchub_mailbot.mail.oauth.apponly import token_request
from acchub_mailbot.mail.oauth.errors import OAuthPermanentError
from acchub_mailbot.mail.oauth.explain import explain
from acchub_mailbot.mail.oauth.settings import OAuthSettings

DELEGATED = OAuthSettings(client_id="app")
APP = OAuthSettings(client_id="app", grant="client_credentials", client_secret_env="S")
GOOGLE_SA = OAuthSettings(
    provider="google", client_id="1", grant="service_account", service_account_file=Path("k.json")
)


@pytest.mark.parametrize(
    ("settings", "error", "description", "words"),
    [
        (APP, "invalid_client", "AADSTS7000215: Invalid client secret provided.", "client secret"),
        (APP, "invalid_client", "AADSTS700027: Client assertion failed", "upload this certificate"),
        (APP, "invalid_client", "AADSTS700016: Application not found", "oauth.tenant"),
        (
            APP,
            "invalid_grant",
            "AADSTS65001: The user or administrator has not consented",
            "consent",
        ),
        (DELEGATED, "invalid_grant", "AADSTS70008: The refresh token has expired", "auth login"),
        (DELEGATED, "invalid_grant", "AADSTS700082: expired due to inactivity", "auth login"),
        (GOOGLE_SA, "unauthorized_client", "Client is unauthorized", "Domain-wide delegation"),
        (GOOGLE_SA, "invalid_grant", "Invalid email or User ID", "not a user"),
        (DELEGATED, "invalid_scope", "bad scope", "oauth.scope"),
        (DELEGATED, "invalid_grant", "something new", "auth login --mailbox invites"),
        (APP, "invalid_grant", "something new", "credential and permissions"),
    ],
)
def test_each_refusal_names_its_fix(
    settings: OAuthSettings, error: str, description: str, words: str
) -> None:
    assert words in explain(error, description, settings, "invites")


def test_app_only_requests_ask_for_the_exchange_default_scope() -> None:
    form, secrets = token_request(APP, subject=None, now=0, environ={"S": "shh"})
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "app",
        "scope": "https://outlook.office365.com/.default",
        "client_secret": "shh",
    }
    assert secrets == ("shh",)


def test_a_service_account_needs_the_mailbox_as_its_subject() -> None:
    with pytest.raises(OAuthPermanentError, match="username"):
        token_request(GOOGLE_SA, subject=None, now=0)


def test_an_unreadable_key_file_names_the_key(tmp_path: Path) -> None:
    settings = OAuthSettings(
        provider="google",
        client_id="1",
        grant="service_account",
        service_account_file=tmp_path / "missing.json",
    )
    with pytest.raises(OAuthPermanentError, match=r"oauth\.service_account_file"):
        token_request(settings, subject="a@firm.example", now=0)
