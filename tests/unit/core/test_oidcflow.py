"""The browser's side of OpenID Connect: the request, the cookie, the checks on the answer."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from acchub_mailbot.core.oidcflow import (
    Flow,
    authorization_url,
    challenge,
    flow_from_cookie,
    same_flow,
    signed_in_email,
)


def new_flow() -> Flow:
    return Flow(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))


def test_the_challenge_is_rfc_7636s_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_request_carries_pkce_state_and_nonce() -> None:
    flow = new_flow()
    url = authorization_url(
        "https://login.example/authorize?p=1", client_id="app", flow=flow,
        redirect_uri="https://hub.firm.example/login/oidc/callback", scopes=("openid", "email"),
    )  # fmt: skip
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.netloc == "login.example" and query["p"] == "1"
    assert query["response_type"] == "code" and query["scope"] == "openid email"
    assert query["state"] == flow.state and query["nonce"] == flow.nonce
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(flow.verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert flow.verifier not in url


def test_the_cookie_round_trips_and_garbage_is_no_flow() -> None:
    flow = new_flow()
    assert flow_from_cookie(flow.cookie()) == flow
    for junk in (None, "", "a.b.c", "x" * 200, f"{flow.state}.{flow.nonce}"):
        assert flow_from_cookie(junk) is None


@given(st.text(max_size=300))
def test_no_cookie_value_raises(value: str) -> None:
    flow_from_cookie(value)


def test_the_answer_must_belong_to_this_browsers_flow() -> None:
    flow = new_flow()
    assert same_flow(flow, flow.state)
    assert not same_flow(flow, new_flow().state)
    assert not same_flow(flow, None) and not same_flow(None, flow.state)


def test_the_email_comes_from_a_token_of_this_flow_and_a_verified_claim() -> None:
    claims = {"nonce": "n1", "email": "Alex@Firm.Example", "preferred_username": "a@x.example"}
    names = ("email", "preferred_username")
    assert signed_in_email(claims, nonce="n1", email_claims=names) == "alex@firm.example"
    assert signed_in_email(claims, nonce="other", email_claims=names) is None
    assert (
        signed_in_email({**claims, "email_verified": False}, nonce="n1", email_claims=names) is None
    )
    no_email = {"nonce": "n1", "preferred_username": "alex@firm.example"}
    assert signed_in_email(no_email, nonce="n1", email_claims=names) == "alex@firm.example"
    assert signed_in_email(no_email, nonce="n1", email_claims=("email",)) is None
    assert signed_in_email({"nonce": "n1", "email": "not an email"}, nonce="n1",
                           email_claims=names) is None  # fmt: skip
