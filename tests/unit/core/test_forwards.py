"""Subject prefixes and inline forward blocks of the common mail clients and locales."""

from __future__ import annotations

from pathlib import Path

import pytest

from acchub_mailbot.core.forwards import (
    detect_forward,
    is_forward_subject,
    is_reply_subject,
    split_subject,
    strip_subject_prefixes,
)

SUBJECT = "You have been invited to Dynamics 365 Business Central"


@pytest.mark.parametrize(
    ("subject", "prefixes"),
    [
        (f"FW: {SUBJECT}", ("fw",)),
        (f"Fw:{SUBJECT}", ("fw",)),
        (f"Fwd: Fwd: {SUBJECT}", ("fwd", "fwd")),
        (f"TR : {SUBJECT}", ("tr",)),
        (f"WG: AW: {SUBJECT}", ("wg", "aw")),
        (f"RV: {SUBJECT}", ("rv",)),
        (f"I: {SUBJECT}", ("i",)),
        (f"VS: {SUBJECT}", ("vs",)),
        (f"VB: {SUBJECT}", ("vb",)),
        (f"ENC: {SUBJECT}", ("enc",)),
        (f"PD: {SUBJECT}", ("pd",)),
        (f"[EXTERNAL] FW: {SUBJECT}", ("fw",)),
        (f"Re[2]: {SUBJECT}", ("re",)),
        (f"Réf : {SUBJECT}", ("réf",)),
        (f"Antw: {SUBJECT}", ("antw",)),
        (f"RIF: {SUBJECT}", ("rif",)),
        (SUBJECT, ()),
    ],
)
def test_subject_prefixes_are_stripped(subject: str, prefixes: tuple[str, ...]) -> None:
    """Every prefix of the chain is removed and remembered, with or without spaces."""
    info = split_subject(subject)
    assert info.core == SUBJECT
    assert info.prefixes == prefixes
    assert strip_subject_prefixes(subject) == SUBJECT


@pytest.mark.parametrize(
    ("subject", "reply", "forward"),
    [
        (f"Re: {SUBJECT}", True, False),
        (f"AW: {SUBJECT}", True, False),
        (f"SV: {SUBJECT}", True, False),
        (f"R: {SUBJECT}", True, False),
        (f"RE: FW: {SUBJECT}", True, True),
        (f"FW: {SUBJECT}", False, True),
        (SUBJECT, False, False),
        ("Invitation", False, False),
    ],
)
def test_reply_and_forward_subjects(subject: str, reply: bool, forward: bool) -> None:
    """Reply prefixes anywhere in the chain make a reply; forward prefixes a forward."""
    assert is_reply_subject(subject) is reply
    assert is_forward_subject(subject) is forward


OUTLOOK_EN = """Please see below.

From: Iris Cole <iris@client.example>
Sent: Friday, September 1, 2023 9:00 AM
To: Rachel <rachel@firm.example>
Subject: You have been invited to Dynamics 365 Business Central

Hello Rachel,"""

OUTLOOK_FR = """Pour info

De : Iris Cole <iris@client.example>
Envoyé : vendredi 1 septembre 2023 09:00
À : Rachel <rachel@firm.example>
Objet : Vous avez été invité

Bonjour"""

OUTLOOK_DE_ORIGINAL = """Zur Info

-----Ursprüngliche Nachricht-----
Von: Iris Cole <iris@client.example>
Gesendet: Freitag, 1. September 2023 09:00
An: Rachel <rachel@firm.example>
Betreff: Sie wurden eingeladen

Hallo"""

OWA = """FYI

________________________________
From: Iris Cole <iris@client.example>
Sent: Friday, September 1, 2023 9:00 AM
To: Rachel
Subject: You have been invited to Dynamics 365 Business Central

Hello"""

GMAIL_FR = """fyi

---------- Forwarded message ---------
De : Iris Cole <iris@client.example>
Date: ven. 1 sept. 2023 à 09:00
Subject: Vous avez été invité
To: <rachel@firm.example>

Bonjour"""

APPLE_FR_QUOTED = """Voir ci-dessous

> Début du message réexpédié :
>
> De: Iris Cole <iris@client.example>
> Objet: Vous avez été invité
> Date: 1 septembre 2023 à 09:00:00 UTC+2
> À: Rachel <rachel@firm.example>
>
> Bonjour"""

TWICE = """second hop

---------- Forwarded message ---------
From: Bob <bob@middle.example>
Date: Fri, Sep 1, 2023 at 9:00 AM
Subject: Fwd: You have been invited
To: <me@firm.example>

first hop

---------- Forwarded message ---------
From: Iris Cole <iris@client.example>
Date: Fri, Sep 1, 2023 at 8:00 AM
Subject: You have been invited to Dynamics 365 Business Central
To: <bob@middle.example>

Hello"""


@pytest.mark.parametrize(
    ("text", "html", "style", "locale", "subject", "count"),
    [
        (OUTLOOK_EN, '<div style="border:none;border-top:solid #E1E1E1 1.0pt">', "outlook-desktop", "en", SUBJECT, 1),  # noqa: E501 - one table row per line reads best
        (OUTLOOK_FR, "", "outlook-desktop", "fr", "Vous avez été invité", 1),
        (OUTLOOK_DE_ORIGINAL, "", "outlook-desktop", "de", "Sie wurden eingeladen", 1),
        (OWA, '<div id="divRplyFwdMsg">', "outlook-web", "en", SUBJECT, 1),
        (GMAIL_FR, "", "gmail", "fr", "Vous avez été invité", 1),
        (APPLE_FR_QUOTED, "", "apple-mail", "fr", "Vous avez été invité", 1),
        (TWICE, "", "gmail", None, SUBJECT, 2),
    ],
)  # fmt: skip
def test_inline_forward_blocks(
    text: str, html: str, style: str, locale: str | None, subject: str, count: int
) -> None:
    """The client style, its locale and the innermost original's From/Subject are found."""
    info = detect_forward(text, html)
    assert info is not None
    assert (info.style, info.locale, info.original_subject, info.count) == (
        style,
        locale,
        subject,
        count,
    )
    assert info.original_from is not None and "@" in info.original_from


def test_apple_mail_localized_separators() -> None:
    """Apple Mail's separator line is recognised in several languages."""
    for line, locale in (
        ("Begin forwarded message:", "en"),
        ("Anfang der weitergeleiteten Nachricht:", "de"),
        ("Inicio del mensaje reenviado:", "es"),
        ("Begin doorgestuurd bericht:", "nl"),
        ("Start på videresendt besked:", "da"),
        ("Inizio messaggio inoltrato:", "it"),
    ):
        info = detect_forward(f"x\n\n{line}\n\nFrom: a@b.example\nSubject: s\n\nbody")
        assert info is not None and (info.style, info.locale) == ("apple-mail", locale)


def test_plain_quoting_and_no_forward() -> None:
    """``>`` quoting without a header block is "quoted"; ordinary text is no forward."""
    quoted = detect_forward("Thanks!\n\n> Hello Rachel,\n> Please accept this invitation\n")
    assert quoted is not None and quoted.style == "quoted" and quoted.quoted
    assert detect_forward("Hello Rachel,\nPlease accept this invitation.\nNote: nothing\n") is None


def test_html_marker_names_the_client_without_text_separator() -> None:
    """A Gmail HTML quote is recognised from its class even when the text is ambiguous."""
    info = detect_forward("hello", '<div class="gmail_quote"><div class="gmail_attr">x</div></div>')
    assert info is not None and info.style == "gmail"


@pytest.mark.parametrize(
    ("name", "style"),
    [
        ("forward-yahoo-en", "yahoo"),
        ("forward-zimbra-en", "zimbra"),
        ("forward-protonmail-en", "proton-mail"),
        ("forward-roundcube-en", "roundcube"),
        ("forward-android-en", "android"),
        ("forward-outlook-mobile-en", "outlook-mobile"),
        ("forward-outlook-mac-en", "outlook-mac"),
        ("forward-gmail-en-hub", "gmail"),
        ("forward-outlook-en-fw", "outlook-desktop"),
    ],
)
def test_each_client_is_named_by_its_own_marks(name: str, style: str) -> None:
    """Separators shared by several clients (``----- Forwarded Message -----``) are told apart
    by the client's HTML marks; the corpus emails are written from each client's format."""
    from acchub_mailbot.core.htmltext import html_to_text
    from acchub_mailbot.core.messages import parse_message

    corpus = Path(__file__).resolve().parents[2] / "corpus"
    message = parse_message((corpus / f"{name}.eml").read_bytes())
    found = detect_forward(html_to_text(message.html), message.html)
    assert found is not None and found.style == style
