"""The digest content (sections, counts, de-duplication) and its rendering in English and French."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import markupsafe
import pytest

from acchub_mailbot.report.digest import (
    SECTION_LIMIT,
    DigestContent,
    DigestEvent,
    EventKind,
    HealthStatus,
    MailboxHealth,
    TokenState,
    build_digest,
    defang,
    defang_text,
    header_safe,
    is_empty,
)
from acchub_mailbot.report.samples import SAMPLE_NOW, sample_digest_content
from acchub_mailbot.report.templating import render_digest

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
BC = "https://businesscentral.dynamics.com"
NBSP = "\u00a0"


def event(
    id: int,
    kind: EventKind,
    *,
    minutes_ago: int = 60,
    mailbox: str = "accounting",
    **fields: object,
) -> DigestEvent:
    return DigestEvent(
        id=id,
        kind=kind,
        mailbox=mailbox,
        occurred_at=NOW - timedelta(minutes=minutes_ago),
        **fields,  # type: ignore[arg-type]
    )


def registered(id: int, name: str, tenant: str, **fields: object) -> DigestEvent:
    url = f"{BC}/{tenant}"
    return event(
        id,
        EventKind.REGISTERED,
        client_name=name,
        client_url=url,
        access_link=f"{url}?redirectedfromsignup=1",
        **fields,
    )


class Links(HTMLParser):
    """Collects every href/src and the visible text of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "href" and value is not None:
                self.hrefs.append(value)
            if name == "src" and value is not None:
                self.srcs.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> Links:
    parser = Links()
    parser.feed(document)
    parser.close()
    return parser


# --- content building ---------------------------------------------------------------------------


def test_events_are_grouped_into_sections_and_counted() -> None:
    """Each kind lands in its section; needs-review and verification-failed share one."""
    events = [
        registered(1, "Contoso", "contoso.onmicrosoft.com"),
        registered(2, "Fabrikam", "fabrikam.onmicrosoft.com"),
        event(3, EventKind.PENDING_VERIFICATION, client_url=f"{BC}/northwind.onmicrosoft.com"),
        event(4, EventKind.NEEDS_REVIEW, message_id="<a@x>", reasons=("unclear",)),
        event(5, EventKind.VERIFICATION_FAILED, client_url=f"{BC}/tailspin.onmicrosoft.com"),
        event(6, EventKind.REJECTED, message_id="<b@x>", rejected_url="https://evil.example/x"),
        event(7, EventKind.QUARANTINED, message_id="<c@x>"),
    ]
    content = build_digest(events, [], now=NOW)
    assert [e.id for e in content.registered] == [1, 2]
    assert [e.id for e in content.pending] == [3]
    assert {e.id for e in content.needs_attention} == {4, 5}
    assert [e.id for e in content.rejected] == [6]
    assert [e.id for e in content.quarantined] == [7]
    counts = content.counts
    assert (counts.registered, counts.pending, counts.needs_attention) == (2, 1, 2)
    assert (counts.needs_review, counts.verification_failed) == (1, 1)
    assert (counts.rejected, counts.quarantined, counts.events) == (1, 1, 7)
    assert not is_empty(content)


def test_sections_are_in_chronological_order() -> None:
    """Oldest first, so the digest reads as a story of the period."""
    events = [
        registered(1, "Late", "late.onmicrosoft.com", minutes_ago=5),
        registered(2, "Early", "early.onmicrosoft.com", minutes_ago=500),
        registered(3, "Middle", "middle.onmicrosoft.com", minutes_ago=50),
    ]
    content = build_digest(events, [], now=NOW)
    assert [e.client_name for e in content.registered] == ["Early", "Middle", "Late"]


def test_a_client_registered_twice_appears_once_with_the_latest_link() -> None:
    """Two invitation emails for one client (original and forward) are one new client."""
    first = registered(1, "Contoso", "contoso.onmicrosoft.com", minutes_ago=90)
    second = replace(
        registered(2, "Contoso Ltd", "contoso.onmicrosoft.com", minutes_ago=10),
        access_link=f"{BC}/contoso.onmicrosoft.com?redirectedFromSignup=1",
    )
    content = build_digest([first, second, first], [], now=NOW)
    assert [e.id for e in content.registered] == [2]
    assert content.counts.registered == 1


def test_registration_supersedes_earlier_pending_and_failure_for_the_same_client() -> None:
    """A client whose check later succeeded is reported as new, not also as pending."""
    url = f"{BC}/contoso.onmicrosoft.com"
    events = [
        event(1, EventKind.PENDING_VERIFICATION, client_url=url, minutes_ago=100),
        event(2, EventKind.VERIFICATION_FAILED, client_url=url, minutes_ago=80),
        registered(3, "Contoso", "contoso.onmicrosoft.com", minutes_ago=20),
        event(4, EventKind.PENDING_VERIFICATION, client_url=f"{BC}/other.com", minutes_ago=30),
        event(5, EventKind.PENDING_VERIFICATION, client_url=f"{BC}/other.com", minutes_ago=10),
    ]
    content = build_digest(events, [], now=NOW)
    assert [e.id for e in content.registered] == [3]
    assert [e.id for e in content.pending] == [5]
    assert content.needs_attention == ()


def test_a_later_failure_replaces_an_earlier_pending_for_the_same_client() -> None:
    url = f"{BC}/tailspin.onmicrosoft.com"
    events = [
        event(1, EventKind.PENDING_VERIFICATION, client_url=url, minutes_ago=100),
        event(2, EventKind.VERIFICATION_FAILED, client_url=url, minutes_ago=10),
    ]
    content = build_digest(events, [], now=NOW)
    assert content.pending == ()
    assert [e.id for e in content.needs_attention] == [2]


def test_rejections_of_the_same_message_are_reported_once() -> None:
    events = [
        event(1, EventKind.REJECTED, message_id="<m@x>", rejected_url="https://a.example"),
        event(2, EventKind.REJECTED, message_id="<m@x>", rejected_url="https://a.example"),
        event(3, EventKind.REJECTED, message_id="<n@x>", rejected_url="https://b.example"),
    ]
    assert build_digest(events, [], now=NOW).counts.rejected == 2


def test_a_flood_of_rejections_is_clipped_but_counted() -> None:
    """A spam wave must not blow the digest past what mail clients display."""
    events = [
        event(i, EventKind.REJECTED, message_id=f"<{i}@x>", rejected_url="https://e.example")
        for i in range(SECTION_LIMIT + 7)
    ]
    content = build_digest(events, [], now=NOW)
    assert len(content.rejected) == SECTION_LIMIT
    assert content.rejected_omitted == 7
    assert content.counts.rejected == SECTION_LIMIT + 7
    rendered = render_digest(content)
    assert "…and 7 more, not listed." in rendered.text
    assert "…and 7 more, not listed." in html.unescape(rendered.html)


def test_no_events_is_an_empty_digest_even_with_a_failing_mailbox() -> None:
    """Health alone never triggers a digest, or a broken mailbox would mail on every tick."""
    failing = MailboxHealth("office", NOW, NOW - timedelta(hours=1), "login failed", 4)
    content = build_digest([], [failing], now=NOW)
    assert is_empty(content)
    assert content.counts.failing_mailboxes == 1
    assert not is_empty(build_digest([event(1, EventKind.QUARANTINED)], [], now=NOW))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_digest([], [], now=datetime(2025, 1, 1))
    naive = replace(event(1, EventKind.QUARANTINED), occurred_at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="event 1"):
        build_digest([naive], [], now=NOW)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="IANA"):
        build_digest([], [], now=NOW, timezone="Mars/Olympus_Mons")


def test_health_lines_judge_failure_and_token_expiry() -> None:
    health = [
        MailboxHealth("ok", NOW, NOW, "old error, since cleared", 0, NOW + timedelta(days=60)),
        MailboxHealth("soon", NOW, NOW, None, 0, NOW + timedelta(days=3)),
        MailboxHealth("gone", NOW, NOW, None, 0, NOW - timedelta(hours=1)),
        MailboxHealth("broken", NOW, NOW - timedelta(hours=2), "AUTHENTICATIONFAILED", 5),
        MailboxHealth("new", None, None, None),
    ]
    lines = {line.name: line for line in build_digest([], health, now=NOW).health}
    assert lines["ok"].status is HealthStatus.OK
    assert lines["ok"].last_error is None
    assert lines["ok"].token_state is TokenState.VALID
    assert lines["soon"].token_state is TokenState.EXPIRING
    assert lines["soon"].token_expires_in == timedelta(days=3)
    assert lines["gone"].token_state is TokenState.EXPIRED
    assert lines["broken"].status is HealthStatus.FAILING
    assert lines["broken"].last_error == "AUTHENTICATIONFAILED"
    assert lines["new"].status is HealthStatus.NEVER_POLLED
    assert lines["new"].token_state is None


def test_email_supplied_text_is_put_on_one_line_and_clipped() -> None:
    """A name with line breaks cannot forge extra lines (fake sections) in the text part."""
    forged = "Contoso\n\n== New clients (1) ==\n* Evil\u202eLtd " + "x" * 500
    content = build_digest(
        [registered(1, forged, "contoso.onmicrosoft.com", subject="Hi\r\nBcc: a@b")], [], now=NOW
    )
    shown = content.registered[0]
    assert shown.client_name is not None
    assert "\n" not in shown.client_name
    assert "\u202e" not in shown.client_name
    assert len(shown.client_name) <= 200
    assert shown.client_name.endswith("…")
    assert shown.subject == "Hi Bcc: a@b"


# --- defang and header_safe ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://evil.example/x", "hxxps://evil[.]example/x"),
        ("http://evil.example", "hxxp://evil[.]example"),
        ("HTTPS://Evil.Example/", "HXXPS://Evil[.]Example/"),
        ("ftp://files.example/a", "ftp[:]//files[.]example/a"),
        (
            "https://businesscentral.dynamics.com@evil.example/",
            "hxxps://businesscentral[.]dynamics[.]com@evil[.]example/",
        ),
        (
            "https://evil.example/r?u=https://other.example/p",
            "hxxps://evil[.]example/r?u=hxxps://other[.]example/p",
        ),
        ("https://evil.example/a\r\nb", "hxxps://evil[.]example/a b"),
    ],
)
def test_defang(url: str, expected: str) -> None:
    assert defang(url) == expected


def test_defang_is_idempotent_and_leaves_nothing_clickable() -> None:
    url = "https://a.b.example/x.html?next=http://c.example&y=www.d.example"
    once = defang(url)
    assert defang(once) == once
    assert "http://" not in once.lower()
    assert "https://" not in once.lower()
    assert "." not in once.replace("[.]", "")


def test_defang_text_neutralises_hosts_inside_a_reason() -> None:
    reason = "look-alike host login.microsoft-bc.example: see https://x.example/a, e.g. not 1.5"
    assert defang_text(reason) == (
        "look-alike host login[.]microsoft-bc[.]example: see hxxps://x[.]example/a, e.g. not 1.5"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2 new clients\r\nBcc: victim@example.com", "2 new clients Bcc: victim@example.com"),
        ("a\nb\rc", "a b c"),
        ("tab\there\x00\x1b[31m", "tab here[31m"),
        ("  many   spaces\u2028and\u2029separators  ", "many spaces and separators"),
        ("bidi \u202etxt.exe\u202c zero\u200bwidth", "bidi txt.exe zerowidth"),
        ("Société Générale ✓", "Société Générale ✓"),
        ("", ""),
    ],
)
def test_header_safe(value: str, expected: str) -> None:
    assert header_safe(value) == expected


def test_header_safe_output_never_contains_line_breaks() -> None:
    nasty = "".join(chr(c) for c in range(0, 0x3000, 7)) + "\r\n\u0085\u2028"
    cleaned = header_safe(nasty)
    assert not any(ch in cleaned for ch in "\r\n\x0b\x0c\x85\u2028\u2029")


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered_n", "review_n", "expected"),
    [
        (1, 0, "Business Central invitations: 1 new client"),
        (2, 1, "Business Central invitations: 2 new clients, 1 needs your attention"),
        (0, 3, "Business Central invitations: 3 need your attention"),
        (0, 0, "Business Central invitations: nothing new"),
    ],
)
def test_subject_is_plural_aware_in_english(
    registered_n: int, review_n: int, expected: str
) -> None:
    events = [registered(i, f"C{i}", f"c{i}.onmicrosoft.com") for i in range(registered_n)]
    events += [
        event(100 + i, EventKind.NEEDS_REVIEW, message_id=f"<{i}@x>") for i in range(review_n)
    ]
    assert render_digest(build_digest(events, [], now=NOW)).subject == expected


@pytest.mark.parametrize(
    ("registered_n", "review_n", "expected"),
    [
        (1, 0, "Invitations Business Central : 1 nouveau client"),
        (2, 1, "Invitations Business Central : 2 nouveaux clients, 1 demande votre attention"),
        (0, 3, "Invitations Business Central : 3 demandent votre attention"),
        (0, 0, "Invitations Business Central : rien de nouveau"),
    ],
)
def test_subject_is_plural_aware_in_french(registered_n: int, review_n: int, expected: str) -> None:
    events = [registered(i, f"C{i}", f"c{i}.onmicrosoft.com") for i in range(registered_n)]
    events += [
        event(100 + i, EventKind.NEEDS_REVIEW, message_id=f"<{i}@x>") for i in range(review_n)
    ]
    content = build_digest(events, [], language="fr", now=NOW)
    assert render_digest(content).subject == expected


def test_subject_never_carries_a_line_break_from_a_template() -> None:
    rendered = render_digest(sample_digest_content())
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject
    assert rendered.subject.startswith("Business Central invitations: 2 new clients")


def test_new_clients_are_shown_with_their_links_in_both_parts() -> None:
    """The text and HTML parts name the same clients and offer the same links."""
    rendered = render_digest(sample_digest_content())
    content = sample_digest_content()
    links = parse(rendered.html)
    visible = html.unescape("".join(links.text))
    for client in content.registered:
        assert client.client_name and client.access_link and client.client_url
        assert client.client_name in rendered.text
        assert client.client_name in visible
        assert client.access_link in rendered.text
        assert client.access_link in links.hrefs
        assert client.client_url in rendered.text
        assert client.client_url in links.hrefs
    hub = content.registered[0].add_client_link
    assert hub is not None
    assert hub in rendered.text
    assert hub in links.hrefs
    for phrase in ("Open this link to accept the invitation:", "Go to company:"):
        assert phrase in rendered.text
        assert phrase in visible
    for item in (*content.pending, *content.needs_attention, *content.quarantined):
        title = item.client_name or item.subject
        assert title is not None
        assert title in rendered.text
        assert title in visible


def test_only_verified_client_links_are_clickable() -> None:
    """Unverified and rejected addresses are shown, never offered as links."""
    content = sample_digest_content()
    links = parse(render_digest(content).html)
    allowed = {
        link
        for e in content.registered
        for link in (e.access_link, e.client_url, e.add_client_link)
        if link
    }
    assert set(links.hrefs) == allowed
    assert all(href.startswith("https://") for href in links.hrefs)


def test_rejected_look_alike_is_defanged_and_never_a_link() -> None:
    evil = "https://businesscentral.dynamics.com.login-check.example/contoso?x=1"
    content = build_digest(
        [
            event(
                1,
                EventKind.REJECTED,
                client_name="Contoso",
                rejected_url=evil,
                reasons=("look-alike host businesscentral.dynamics.com.login-check.example",),
            )
        ],
        [],
        now=NOW,
    )
    rendered = render_digest(content)
    links = parse(rendered.html)
    assert links.hrefs == []
    assert "<a " not in rendered.html
    for part in (rendered.text, html.unescape(rendered.html)):
        assert evil not in part
        assert "login-check.example" not in part
        assert defang(evil) in part
        assert "hxxps://businesscentral[.]dynamics[.]com[.]login-check[.]example" in part


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "</td></tr></table><a href='https://evil.example'>click</a>",
    ],
)
def test_hostile_names_are_text_in_html_and_verbatim_in_text(hostile: str) -> None:
    events = [
        registered(1, hostile, "contoso.onmicrosoft.com", sender=hostile, subject=hostile),
        event(2, EventKind.NEEDS_REVIEW, subject=hostile, reasons=(hostile,)),
        event(3, EventKind.QUARANTINED, subject=hostile, message_id=hostile, reasons=(hostile,)),
    ]
    health = [MailboxHealth("accounting", NOW, NOW - timedelta(hours=1), hostile, 2)]
    for language in ("en", "fr"):
        rendered = render_digest(build_digest(events, health, language=language, now=NOW))
        assert hostile not in rendered.html
        assert str(markupsafe.escape(hostile)) in rendered.html
        parsed = parse(rendered.html)
        assert "script" not in parsed.tags
        assert "img" not in parsed.tags
        assert "https://evil.example" not in parsed.hrefs
        assert hostile in html.unescape("".join(parsed.text))
        assert hostile in rendered.text


def test_html_has_no_scripts_or_remote_resources() -> None:
    for language in ("en", "fr"):
        document = render_digest(sample_digest_content(language)).html
        lowered = document.lower()
        assert "<script" not in lowered
        assert "<img" not in lowered
        assert "<link" not in lowered
        assert "<style" not in lowered
        assert "url(" not in lowered
        assert "@import" not in lowered
        assert '<meta name="color-scheme" content="light dark">' in document
        assert "max-width:600px" in document
        assert parse(document).srcs == []


def test_french_digest_is_in_french_with_french_dates() -> None:
    content = sample_digest_content("fr", timezone="Europe/Paris")
    rendered = render_digest(content)
    assert f"Ouvrez ce lien pour accepter l'invitation{NBSP}:" in rendered.text
    assert f"Accéder à la société{NBSP}:" in rendered.text
    assert "Nouveaux clients" in rendered.text
    assert "Imitations rejetées" in rendered.text
    # 08:30 UTC on 15 January is 09:30 in Paris, written the French way.
    assert "Récapitulatif du 15 janv. 2025, 09:30." in rendered.text
    assert "le jeton de connexion expire dans 5 jours" in rendered.text.lower()
    assert "Europe/Paris" in rendered.text
    assert "Open this link" not in rendered.text
    visible = html.unescape("".join(parse(rendered.html).text))
    assert "Accepter l'invitation" in visible
    assert "Récapitulatif du 15 janv. 2025, 09:30." in visible
    assert '<html lang="fr"' in rendered.html


def test_english_dates_follow_the_configured_time_zone() -> None:
    content = replace(sample_digest_content("en"), timezone="America/New_York")
    rendered = render_digest(content)
    # 08:30 UTC is 03:30 in New York in January (UTC-5).
    assert "Digest of Jan 15, 2025, 3:30\u202fAM." in rendered.text
    assert "America/New_York" in rendered.text


def test_regional_language_falls_back_to_its_base_translation() -> None:
    content = replace(sample_digest_content("fr"), language="fr_CA")
    assert "Nouveaux clients" in render_digest(content).text


def test_unknown_language_is_an_error_not_an_english_digest() -> None:
    content = replace(sample_digest_content(), language="xx")
    with pytest.raises(ValueError, match="no translation for language 'xx'"):
        render_digest(content)


def test_mailbox_is_named_only_when_the_digest_covers_several() -> None:
    one = build_digest([registered(1, "A", "a.com")], [], now=NOW)
    two = build_digest(
        [registered(1, "A", "a.com"), registered(2, "B", "b.com", mailbox="office")], [], now=NOW
    )
    assert "(mailbox" not in render_digest(one).text
    text = render_digest(two).text
    assert "(mailbox accounting)" in text
    assert "(mailbox office)" in text


def test_health_is_reported_in_both_parts() -> None:
    rendered = render_digest(sample_digest_content())
    visible = html.unescape("".join(parse(rendered.html).text))
    for part in (rendered.text, visible):
        assert "3 errors since the last successful check" in part
        assert "IMAP login failed: [AUTHENTICATIONFAILED]" in part
        assert "Sign-in token expires in 5 days" in part
        assert "OK, last checked Jan 15, 2025, 8:29\u202fAM" in part


def test_text_part_is_tidy() -> None:
    text = render_digest(sample_digest_content()).text
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    assert "\n\n\n" not in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_sample_digest_fills_every_section() -> None:
    """Previews and template checks rely on the sample exercising every branch."""
    content: DigestContent = sample_digest_content()
    assert content.generated_at == SAMPLE_NOW
    assert content.registered and content.pending and content.rejected and content.quarantined
    assert {e.kind for e in content.needs_attention} == {
        EventKind.NEEDS_REVIEW,
        EventKind.VERIFICATION_FAILED,
    }
    assert any(e.add_client_link for e in content.registered)
    assert any(e.add_client_link is None for e in content.registered)
    assert {line.status for line in content.health} == {HealthStatus.OK, HealthStatus.FAILING}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_client_without_a_company_name_says_the_name_is_missing(language: str) -> None:
    """The detector leaves the name empty rather than guess; the reader is told how to fill it."""
    nameless = replace(registered(1, "", "kestrel.onmicrosoft.com"), client_name=None)
    named = registered(2, "Harbourlight Marine", "harbourlight.onmicrosoft.com")
    rendered = render_digest(build_digest([nameless, named], [], language=language, now=NOW))
    missing = {"en": "(company name missing)", "fr": "(nom de la société absent)"}[language]
    command = f'acchub-mailbot clients edit {BC}/kestrel.onmicrosoft.com --name "…"'
    for body in (rendered.text, html.unescape(rendered.html)):
        assert body.count(missing) == 1
        assert body.count(command) == 1
        assert "Harbourlight Marine" in body
