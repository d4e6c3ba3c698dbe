"""The live "Test client URL" check against real HTTPS servers on 127.0.0.1.

Each test starts its own small HTTPS server (stdlib ``http.server`` + ``ssl`` in a thread)
with certificates issued by a throwaway ``trustme`` CA. Host names are mapped to loopback by
an injected resolver, and port 443 is redirected to the server's port by the test-only
``port_overrides`` setting, so nothing here leaves the machine.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import trustme

from acchub_mailbot.verify.urlcheck import (
    LiveChecker,
    LiveCheckSettings,
    Outcome,
    format_result,
    system_resolver,
)
from tests.servers.dovecot import free_port
from tests.servers.https import (
    BC,
    CLIENT_URL,
    EVIL,
    LOGIN,
    TENANT,
    Handler,
    World,
    ok,
    redirect_to,
    status,
)

pytestmark = pytest.mark.integration


# --- verified -----------------------------------------------------------------------------


def test_200_on_the_tenant_is_verified(world: World) -> None:
    """A tenant page answering 200 over valid TLS is verified, with each step reported."""
    server = world.server(ok)
    result = world.check(server.port)
    assert result.outcome is Outcome.VERIFIED, format_result(result)
    assert result.final_url == CLIENT_URL
    assert [(s.host, s.path) for s in server.seen] == [(BC, f"/{TENANT}")]
    assert result.checked[0].startswith("rules:")
    assert any(line == f"dns: {BC} -> 127.0.0.1 (all allowed)" for line in result.checked)
    assert any("-> 200 OK" in line for line in result.checked)
    assert result.checked_at.tzinfo is not None
    assert "verified" in format_result(result)


def test_tls_uses_the_real_host_name_while_connecting_to_the_checked_address(world: World) -> None:
    """SNI carries the host name and the resolver is asked once, for the one connection made."""
    server = world.server(ok)
    result = world.check(server.port)
    assert result.outcome is Outcome.VERIFIED
    assert server.sni == [BC]
    assert world.lookups == [BC]
    assert server.connections == 1


def test_request_identifies_itself_and_asks_for_an_uncompressed_body(world: World) -> None:
    """The configured User-Agent is sent, and compression is declined (size cap is on raw bytes)."""
    server = world.server(ok)
    world.check(server.port, user_agent="acchub-mailbot/test (Test client URL)")
    headers = server.seen[0].headers
    assert headers["user-agent"] == "acchub-mailbot/test (Test client URL)"
    assert headers["accept-encoding"] == "identity"


def test_redirect_to_microsoft_sign_in_is_verified_without_contacting_it(world: World) -> None:
    """A 302 to login.microsoftonline.com proves the tenant exists; sign-in itself is not fetched,
    and its query string (state, nonce) is never shown."""
    location = f"https://{LOGIN}/common/oauth2/authorize?client_id=x&state=SECRETSTATE"
    server = world.server(redirect_to(location))
    result = world.check(server.port)
    assert result.outcome is Outcome.VERIFIED, format_result(result)
    assert result.final_url == f"https://{LOGIN}/common/oauth2/authorize?…"
    assert [s.host for s in server.seen] == [BC]
    assert LOGIN not in world.lookups
    assert "SECRETSTATE" not in format_result(result)


def test_relative_redirect_within_business_central_is_followed(world: World) -> None:
    """BC's own redirects to an environment are followed hop by hop until the 200."""

    def behaviour(handler: Handler) -> None:
        if handler.path == f"/{TENANT}":
            handler.reply(302, {"Location": f"/{TENANT}/Production?company=CRONUS"})
        else:
            ok(handler)

    server = world.server(behaviour)
    result = world.check(server.port)
    assert result.outcome is Outcome.VERIFIED, format_result(result)
    assert [s.path for s in server.seen] == [f"/{TENANT}", f"/{TENANT}/Production?company=CRONUS"]
    assert result.final_url == f"{CLIENT_URL}/Production?…"


def test_legacy_financials_host_is_checked_too(world: World) -> None:
    """A legacy <name>.financials.dynamics.com URL goes through the same guarded probe."""
    host = "contoso.financials.dynamics.com"
    world.names[host] = ["127.0.0.1"]
    server = world.server(ok, host)
    result = world.check(server.port, url=f"https://{host}")
    assert result.outcome is Outcome.VERIFIED, format_result(result)
    assert server.sni == [host]


def test_cookies_do_not_carry_over_between_checks(world: World) -> None:
    """A cookie set during one check is not sent in the next one by the same checker."""

    def behaviour(handler: Handler) -> None:
        handler.reply(200, {"Set-Cookie": "session=abc; Path=/; Secure"}, b"ok")

    server = world.server(behaviour)
    with LiveChecker(world.settings(server.port), resolver=world.resolver) as checker:
        assert checker.check(CLIENT_URL).outcome is Outcome.VERIFIED
        assert checker.check(CLIENT_URL).outcome is Outcome.VERIFIED
    assert len(server.seen) == 2
    assert "cookie" not in server.seen[1].headers


# --- failed -------------------------------------------------------------------------------


def test_redirect_to_a_foreign_host_fails_and_is_not_followed(world: World) -> None:
    """A redirect off Microsoft's hosts is refused before any DNS lookup of the foreign host."""
    server = world.server(redirect_to(f"https://{EVIL}/phish"))
    result = world.check(server.port)
    assert result.outcome is Outcome.FAILED
    assert f"foreign host {EVIL}" in result.reason
    assert EVIL not in world.lookups
    assert [s.host for s in server.seen] == [BC]


@pytest.mark.parametrize(
    "location",
    [f"http://{BC}/{TENANT}", f"http://{LOGIN}/common/oauth2/authorize"],
)
def test_redirect_to_plain_http_fails(world: World, location: str) -> None:
    """Every hop must stay on https, even towards a Microsoft host."""
    server = world.server(redirect_to(location))
    result = world.check(server.port)
    assert result.outcome is Outcome.FAILED
    assert "non-https" in result.reason
    assert len(server.seen) == 1


def test_redirect_with_user_info_fails(world: World) -> None:
    """A redirect smuggling credentials in user@host is refused, and they are not echoed."""
    server = world.server(redirect_to(f"https://admin:hunter2@{BC}/{TENANT}/x"))
    result = world.check(server.port)
    assert result.outcome is Outcome.FAILED
    assert "user-info" in result.reason
    assert "hunter2" not in format_result(result)


@pytest.mark.parametrize("code", [404, 410])
def test_tenant_not_found_fails(world: World, code: int) -> None:
    """404 and 410 are Business Central's definitive 'no such tenant'."""
    server = world.server(status(code))
    result = world.check(server.port)
    assert result.outcome is Outcome.FAILED
    assert f"HTTP {code}" in result.reason
    assert "tenant was not found" in result.reason


def test_redirect_loop_fails(world: World) -> None:
    """Two URLs redirecting to each other end as failed, naming the loop."""

    def behaviour(handler: Handler) -> None:
        other = f"/{TENANT}/Env" if handler.path == f"/{TENANT}" else f"/{TENANT}"
        handler.reply(302, {"Location": other})

    server = world.server(behaviour)
    result = world.check(server.port)
    assert result.outcome is Outcome.FAILED
    assert "redirect loop" in result.reason
    assert len(server.seen) == 2


def test_too_many_redirects_fails(world: World) -> None:
    """An endless chain of distinct redirects stops after max_redirects hops."""

    def behaviour(handler: Handler) -> None:
        handler.reply(302, {"Location": f"/{TENANT}/Env{len(handler.server.seen)}"})

    server = world.server(behaviour)
    result = world.check(server.port, max_redirects=3)
    assert result.outcome is Outcome.FAILED
    assert "more than 3 redirects" in result.reason
    assert len(server.seen) == 4


def test_certificate_for_another_name_fails(world: World) -> None:
    """A server on the checked address presenting someone else's certificate is refused."""
    server = world.server(ok, EVIL)
    result = world.check(server.port)
    assert result.outcome is Outcome.FAILED
    assert "TLS certificate error" in result.reason
    assert "mismatch" in result.reason.lower() or BC in result.reason
    assert server.seen == []


def test_certificate_from_an_unknown_ca_fails(world: World) -> None:
    """Without the test CA in the trust store the same server is refused."""
    server = world.server(ok)
    other_ca = world.tmp / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    result = world.check(server.port, ca_file=str(other_ca))
    assert result.outcome is Outcome.FAILED
    assert "certificate" in result.reason


def test_look_alike_host_fails_on_the_rules_without_traffic(world: World) -> None:
    """A look-alike URL is refused by the offline rules: no DNS lookup, no connection."""
    server = world.server(ok)
    result = world.check(server.port, url=f"https://{BC}.{EVIL}/{TENANT}")
    assert result.outcome is Outcome.FAILED
    assert result.reason.startswith("look-alike host")
    assert result.checked == (f"rules: refused: {result.reason}",)
    assert world.lookups == []
    assert server.connections == 0


# --- unreachable --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 503, 429])
def test_server_errors_and_throttling_are_unreachable(world: World, code: int) -> None:
    """5xx and 429 are transient: the check is worth repeating later."""
    server = world.server(status(code))
    result = world.check(server.port)
    assert result.outcome is Outcome.UNREACHABLE
    assert f"HTTP {code}" in result.reason


def test_server_that_never_answers_is_unreachable_after_the_timeout(world: World) -> None:
    """TLS completes but no HTTP response comes: the read timeout ends the check."""

    def silent(handler: Handler) -> None:
        handler.server.release.wait(10)

    server = world.server(silent)
    started = time.monotonic()
    result = world.check(server.port, timeout_seconds=0.5)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.UNREACHABLE
    assert "timed out" in result.reason
    assert elapsed < 3


def test_listener_that_never_does_tls_is_unreachable_after_the_timeout(world: World) -> None:
    """A port that accepts TCP but never speaks TLS times out during the handshake."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        started = time.monotonic()
        result = world.check(silent.getsockname()[1], timeout_seconds=0.5)
        elapsed = time.monotonic() - started
    assert result.outcome is Outcome.UNREACHABLE
    assert "timed out" in result.reason
    assert elapsed < 3


def test_connection_refused_is_unreachable(world: World) -> None:
    """Nothing listening on the port is transient, not a verdict on the tenant."""
    result = world.check(free_port())
    assert result.outcome is Outcome.UNREACHABLE
    assert "network error" in result.reason


def test_dns_failure_is_unreachable(world: World) -> None:
    """A host that does not resolve (at the moment) is unreachable, with no connection."""
    del world.names[BC]
    server = world.server(ok)
    result = world.check(server.port)
    assert result.outcome is Outcome.UNREACHABLE
    assert "does not resolve" in result.reason
    assert server.connections == 0


def test_slow_drip_is_cut_by_the_overall_deadline(world: World) -> None:
    """A server sending one header byte at a time cannot hold the check past its deadline."""

    def behaviour(handler: Handler) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
            if handler.server.release.wait(0.1):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    server = world.server(behaviour)
    started = time.monotonic()
    result = world.check(server.port, timeout_seconds=1.0, deadline_seconds=1.0)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.UNREACHABLE
    assert "timed out" in result.reason
    assert elapsed < 2.5


# --- size cap ------------------------------------------------------------------------------


def test_large_body_is_not_read_past_max_bytes(world: World) -> None:
    """An endless body is read only up to the cap; the check ends promptly as verified."""

    def behaviour(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(10**12))
        handler.end_headers()
        chunk = b"x" * 65536
        while not handler.server.release.is_set():
            handler.wfile.write(chunk)

    server = world.server(behaviour)
    started = time.monotonic()
    result = world.check(server.port, max_bytes=4096)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.VERIFIED, format_result(result)
    assert any("read 4096 bytes (stopped at the size cap)" in line for line in result.checked)
    assert elapsed < 2
    # The server's endless write fails once the client has closed the connection.
    deadline = time.monotonic() + 5
    while not server.handler_errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.handler_errors


# --- SSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "range_words"),
    [
        ("127.0.0.1", "127.0.0.0/8 (loopback)"),
        ("10.0.0.5", "10.0.0.0/8 (private network, RFC 1918)"),
        ("169.254.169.254", "cloud metadata service"),
        ("::1", "::1/128 (loopback)"),
        ("192.168.1.1", "192.168.0.0/16 (private network, RFC 1918)"),
        ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1"),
    ],
)
def test_default_settings_refuse_internal_addresses_without_connecting(
    world: World, address: str, range_words: str
) -> None:
    """With no allow-list, a BC host resolving to an internal address is refused by name of
    the range, and the listening server proves that no connection was made."""
    world.names[BC] = [address]
    server = world.server(ok)
    settings = LiveCheckSettings(ca_file=world.ca_file, port_overrides={443: server.port})
    with LiveChecker(settings, resolver=world.resolver) as checker:
        result = checker.check(CLIENT_URL)
    assert result.outcome is Outcome.FAILED
    assert result.reason.startswith("address refused:")
    assert range_words in result.reason
    assert server.connections == 0
    assert server.seen == []


def test_default_settings_refuse_what_the_system_resolver_answers_for_loopback(
    world: World,
) -> None:
    """The real resolver's answer for 'localhost' (from the hosts file) is refused too."""
    server = world.server(ok)
    settings = LiveCheckSettings(ca_file=world.ca_file, port_overrides={443: server.port})

    def through_system(host: str, port: int) -> list[str]:
        return system_resolver("localhost", port)

    with LiveChecker(settings, resolver=through_system) as checker:
        result = checker.check(CLIENT_URL)
    assert result.outcome is Outcome.FAILED
    assert "loopback" in result.reason
    assert server.connections == 0


def test_every_resolved_address_must_be_allowed_not_only_the_first(world: World) -> None:
    """One allowed address does not excuse another, refused one in the same answer."""
    world.names[BC] = ["127.0.0.1", "10.0.0.5"]
    server = world.server(ok)
    result = world.check(server.port)
    assert result.outcome is Outcome.FAILED
    assert "10.0.0.5 is in 10.0.0.0/8" in result.reason
    assert server.connections == 0


def test_each_new_connection_is_checked_again_against_rebinding(world: World) -> None:
    """A name that resolves to loopback first and to the metadata service on the next lookup
    is refused on the second connection: every connection checks its own answer."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])

    def rebinding(host: str, port: int) -> list[str]:
        world.lookups.append(host)
        return next(answers)

    def behaviour(handler: Handler) -> None:
        # HTTP/1.0 without keep-alive: the next hop needs a new connection.
        handler.reply(302, {"Location": f"/{TENANT}/Production", "Connection": "close"})

    server = world.server(behaviour)
    with LiveChecker(world.settings(server.port), resolver=rebinding) as checker:
        result = checker.check(CLIENT_URL)
    assert result.outcome is Outcome.FAILED
    assert "cloud metadata service" in result.reason
    assert world.lookups == [BC, BC]
    assert server.connections == 1


# --- the check inside the service: retry with backoff, then a decision ---------------------


def _app_with_pending_client(world: World, port: int, database_url: str) -> tuple[Any, int]:
    from acchub_mailbot.app.runtime import App
    from acchub_mailbot.config import parse_settings
    from acchub_mailbot.store import registry

    settings = parse_settings(
        {
            "database": {"url": database_url},
            "verification": {"live_check": True, "retry_base_seconds": 1, "retry_max_attempts": 3},
        },
        environ={},
    )
    app = App.open(settings)
    app._checker = LiveChecker(world.settings(port), resolver=world.resolver)
    with app.sessions.begin() as session:
        result = registry.register_invitation(
            session,
            client_url=CLIENT_URL,
            tenant=TENANT,
            name="Kestrel",
            access_link=f"{CLIENT_URL}?redirectedfromsignup=1",
            add_client_link=None,
            status="pending_verification",
            mailbox="invites",
            message_id="<m@x>",
        )
    return app, result.client_id


def _client_and_events(app: Any, client_id: int) -> tuple[Any, list[str]]:
    from sqlalchemy import select

    from acchub_mailbot.store.models import Client, Event

    with app.sessions() as session:
        client = session.get(Client, client_id)
        kinds = list(session.scalars(select(Event.kind).order_by(Event.id)).all())
    return client, kinds


def test_unreachable_client_stays_pending_and_is_retried_until_verified(
    world: World, database_url: str
) -> None:
    """A 503 keeps the client pending with a retry time; once due and answering, it is
    registered and reported."""
    answers = iter([status(503), ok])
    server = world.server(lambda handler: next(answers)(handler))
    app, client_id = _app_with_pending_client(world, server.port, database_url)
    try:
        assert app.verify_pending() == 1
        client, kinds = _client_and_events(app, client_id)
        assert client.status == "pending_verification"
        assert client.verification_outcome == "unreachable"
        assert client.next_verification_at is not None
        assert kinds == []
        assert app.verify_pending() == 0  # not due yet: the backoff holds
        time.sleep(1.2)
        assert app.verify_pending() == 1
        client, kinds = _client_and_events(app, client_id)
        assert client.status == "registered"
        assert client.verification_outcome == "verified"
        assert kinds == ["registered"]
    finally:
        app.close()


def test_definitive_failure_sends_the_client_to_review(world: World, database_url: str) -> None:
    """A 404 on the tenant is final: the client needs a person, and the digest says why."""
    server = world.server(status(404))
    app, client_id = _app_with_pending_client(world, server.port, database_url)
    try:
        assert app.verify_pending() == 1
        client, kinds = _client_and_events(app, client_id)
        assert client.status == "needs_review"
        assert client.verification_outcome == "failed"
        assert kinds == ["verification_failed"]
        assert app.verify_pending() == 0
    finally:
        app.close()
