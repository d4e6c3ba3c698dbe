"""The confirmation reply: when it may be sent, and what it says in English and French."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from acchub_mailbot.core.forward_policy import ForwarderPolicy
from acchub_mailbot.core.messages import Message, parse_message
from acchub_mailbot.handlers.base import Decision, Verdict
from acchub_mailbot.report.confirmations import (
    CONFIRMATION_TEMPLATES,
    Outcome,
    build_confirmation,
    outcome_of,
    should_confirm,
    thread_headers,
)
from acchub_mailbot.report.templating import LOCALE_DIR, shipped_templates_dir

ALICE = "alice@firm.example"
OWN = frozenset({"acchub-mailbot@firm.example", "invites@firm.example"})
POLICY = ForwarderPolicy.build(forwarders=[ALICE], mailbox_address="invites@firm.example")
URL = "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com"


def message(
    *headers: str, sender: str = ALICE, subject: str = "FW: You have been invited"
) -> Message:
    """A forward as parsed from the mailbox; ``X-Acchub-*`` headers are set on the result, as
    ``messages.KEPT_HEADERS`` keeps them once the lead's patch adds them."""
    own = [h for h in headers if h.lower().startswith("x-acchub")]
    headers = tuple(h for h in headers if h not in own)
    lines = [
        f"From: {sender}",
        "To: invites@firm.example",
        f"Subject: {subject}",
        "Message-ID: <fwd-1@firm.example>",
        *headers,
    ]
    parsed = parse_message(("\r\n".join(lines) + "\r\n\r\nsee below\r\n").encode())
    if not own:
        return parsed
    extra = {h.split(":", 1)[0].lower(): h.split(":", 1)[1].strip() for h in own}
    return replace(parsed, headers={**parsed.headers, **extra})


def test_a_forward_from_an_allowed_person_is_confirmed() -> None:
    """An ordinary forward from a listed accountant under the rate limit gets a reply."""
    assert should_confirm(message(), ALICE, POLICY, 0, 10, OWN) is None


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        (
            ["Auto-Submitted: auto-replied"],
            ALICE,
            "automatic message (Auto-Submitted: auto-replied)",
        ),
        (["X-Autoreply: yes"], ALICE, "automatic reply (X-Autoreply header)"),
        (["Precedence: bulk"], ALICE, "automatic or bulk message (Precedence: bulk)"),
        (["Precedence: junk"], ALICE, "automatic or bulk message (Precedence: junk)"),
        (
            ["List-Id: <team.firm.example>"],
            ALICE,
            "mailing-list or newsletter message (List-Id/List-Unsubscribe)",
        ),
        (["Return-Path: <>"], ALICE, "a bounce (empty Return-Path)"),
        (
            [],
            "MAILER-DAEMON@firm.example",
            "non-delivery report (sent by mailer-daemon@firm.example)",
        ),
        (["X-Acchub-Mailbox: invites"], ALICE, "our own mail (X-Acchub header)"),
        ([], "acchub-mailbot@firm.example", "our own mail (from acchub-mailbot@firm.example)"),
        (
            ["In-Reply-To: <20261124.1.acchub-confirm@firm.example>"],
            ALICE,
            "a reply to one of our confirmations",
        ),
    ],
)
def test_machines_and_our_own_mail_are_never_answered(
    headers: list[str], sender: str, reason: str
) -> None:
    """Auto-replies, bounces, lists and our own mail get no reply, so no mail loop can start."""
    assert should_confirm(message(*headers, sender=sender), ALICE, POLICY, 0, 10, OWN) == reason


def test_auto_reply_subject_without_headers_is_not_answered() -> None:
    """An out-of-office that forgot its headers is still recognised by its subject."""
    auto = message(subject="Automatic reply: Registered: Kestrel Joinery")
    assert should_confirm(auto, ALICE, POLICY, 0, 10, OWN) == "automatic reply or bounce (subject)"


def test_strangers_ourselves_and_non_forwards_get_no_reply() -> None:
    """Replies go only to listed forwarders, never to our own addresses or when nobody forwarded."""
    bob = "bob@elsewhere.example"
    assert should_confirm(message(sender=bob), bob, POLICY, 0, 10, OWN) == (
        f"{bob} is not an allowed forwarder"
    )
    own = "invites@firm.example"
    lenient = ForwarderPolicy.build(forwarders=None, mailbox_address=own)
    assert should_confirm(message(), own, lenient, 0, 10, OWN) == f"{own} is our own address"
    assert should_confirm(message(), None, POLICY, 0, 10, OWN) == (
        "not a forward: there is nobody to confirm to"
    )


def test_rate_limit_stops_replies_at_the_hourly_maximum() -> None:
    """The N-th reply in an hour is the last one; the next waits for the window to move."""
    assert should_confirm(message(), ALICE, POLICY, 9, 10, OWN) is None
    assert should_confirm(message(), ALICE, POLICY, 10, 10, OWN) == (
        f"rate limit: 10 confirmations sent to {ALICE} in the past hour (at most 10)"
    )


@pytest.mark.parametrize(
    ("decision", "status", "expected"),
    [
        (Decision(Verdict.INVITATION, "invitation"), "registered", (Outcome.REGISTERED, None)),
        (
            Decision(Verdict.INVITATION, "invitation"),
            "pending_verification",
            (Outcome.WAITING, None),
        ),
        (
            Decision(Verdict.INVITATION, "invitation"),
            "archived",
            (Outcome.ATTENTION, "the client is marked archived"),
        ),
        (Decision(Verdict.NOT_INVITATION, "none"), None, (Outcome.NOT_INVITATION, None)),
        (
            Decision(
                Verdict.NEEDS_REVIEW,
                "invitation",
                reasons=("forward: gmail", "forwarded by x@y, who is not an allowed forwarder"),
            ),
            None,
            (Outcome.ATTENTION, "forwarded by x@y, who is not an allowed forwarder"),
        ),
        (
            Decision(
                Verdict.REJECTED,
                "invitation",
                reasons=("forward: gmail", "rule failed: look-alike host", "unwrapped: safe links"),
            ),
            None,
            (Outcome.ATTENTION, "rule failed: look-alike host"),
        ),
    ],
)
def test_outcome_follows_the_decision_and_the_client(
    decision: Decision, status: str | None, expected: tuple[Outcome, str | None]
) -> None:
    """Each verdict maps to one of the four replies, with the deciding reason for a person."""
    assert outcome_of(decision, status) == expected


def test_reply_threads_under_the_forward() -> None:
    """In-Reply-To is the forward's Message-ID; References carries the thread and ends with it."""
    forward = message("References: <a@x> <b@x>", "In-Reply-To: <b@x>")
    assert thread_headers(forward) == ("<fwd-1@firm.example>", "<a@x> <b@x> <fwd-1@firm.example>")
    assert thread_headers(message()) == ("<fwd-1@firm.example>", "<fwd-1@firm.example>")
    long_thread = message("References: " + " ".join(f"<{i}@x>" for i in range(40)))
    _reply_to, references = thread_headers(long_thread)
    assert references is not None
    ids = references.split()
    assert len(ids) == 20 and ids[0] == "<0@x>" and ids[-1] == "<fwd-1@firm.example>"


@pytest.mark.parametrize(
    ("outcome", "subject", "sentence"),
    [
        (
            Outcome.REGISTERED,
            "Registered: Kestrel Joinery",
            "The client from the invitation you forwarded is registered.",
        ),
        (
            Outcome.WAITING,
            "Waiting for verification: Kestrel Joinery",
            "the client will be registered once it is confirmed.",
        ),
        (
            Outcome.ATTENTION,
            "Needs your attention: FW: You have been invited",
            "was not registered automatically.",
        ),
        (
            Outcome.NOT_INVITATION,
            "Not an invitation: FW: You have been invited",
            "does not look like a Business Central invitation",
        ),
    ],
)
def test_each_outcome_renders_subject_text_and_html(
    outcome: Outcome, subject: str, sentence: str
) -> None:
    """Every outcome has its own subject and says the same thing in the text and HTML parts."""
    reply = build_confirmation(
        message(), outcome, mailbox="invites", client_name="Kestrel Joinery", client_url=URL
    )
    assert reply.subject == subject
    assert sentence in reply.text
    assert sentence in reply.html
    assert "automatic reply from acchub-mailbot (mailbox invites)" in reply.text
    assert reply.in_reply_to == "<fwd-1@firm.example>"
    assert (URL in reply.text) is (outcome in (Outcome.REGISTERED, Outcome.WAITING))


def test_attention_reply_gives_the_reason_defanged() -> None:
    """The reason is shown, with any look-alike host made unclickable in both parts."""
    reason = "rule failed: host businesscentral.dynamics.com.evil.example is not Microsoft's"
    reply = build_confirmation(message(), Outcome.ATTENTION, mailbox="invites", reason=reason)
    for part in (reply.text, reply.html):
        assert "businesscentral[.]dynamics[.]com[.]evil[.]example" in part
        assert "dynamics.com.evil.example" not in part


def test_html_escapes_what_came_from_the_email() -> None:
    """Names and subjects from mail show as text in the HTML part; the subject stays one line."""
    reply = build_confirmation(
        message(subject="FW: <img src=x onerror=alert(1)>"),
        Outcome.REGISTERED,
        mailbox="invites",
        client_name="Kestrel <script>alert(1)</script>\r\nBcc: victim@example.com",
        known_before=True,
    )
    assert "<script>" not in reply.html and "<img" not in reply.html
    assert "&lt;script&gt;" in reply.html
    assert "\n" not in reply.subject and "\r" not in reply.subject
    assert "you are now one of its owners" in reply.text


def test_reply_speaks_french() -> None:
    """A French-speaking accountant gets the reply in French, subject included."""
    reply = build_confirmation(
        message(), Outcome.REGISTERED, mailbox="invites", client_name="Kestrel", language="fr"
    )
    # The subject is put on one line, where the no-break space before the colon becomes a space.
    assert reply.subject == "Enregistré : Kestrel"
    assert "Le client de l'invitation que vous avez transférée est enregistré." in reply.text
    assert 'lang="fr"' in reply.html
    assert "Ceci est une réponse automatique" in reply.html


def test_every_confirmation_sentence_is_translated_to_french() -> None:
    """No confirmation sentence falls back to English in the French catalog."""
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    missing = []
    for name in CONFIRMATION_TEMPLATES:
        found = extract_from_file(
            "jinja2.ext:babel_extract",
            str(shipped_templates_dir() / name),
            options={"trimmed": "true"},
        )
        for _line, msgid, _comments, _context in found:
            key = msgid if isinstance(msgid, str) else msgid[0]
            entry = catalog.get(key)
            if entry is None or not entry.string:
                missing.append(key)
    assert missing == []


def test_templates_are_found_next_to_the_digest_templates() -> None:
    """The three confirmation templates ship where the digest's are."""
    for name in CONFIRMATION_TEMPLATES:
        assert (shipped_templates_dir() / name).is_file()
    assert Path(shipped_templates_dir()).name == "templates"


def test_check_reports_a_broken_user_confirmation_template(tmp_path: Path) -> None:
    """A user's broken confirmation template is named at start-up; the shipped ones pass."""
    from acchub_mailbot.report.confirmations import check_confirmation_templates

    assert check_confirmation_templates(None, ["en", "fr"]) == []
    (tmp_path / "confirmation.txt.j2").write_text("{% if %}broken", encoding="utf-8")
    problems = check_confirmation_templates(tmp_path, ["en"])
    assert len(problems) == 1
    assert "confirmation templates (en" in problems[0]
