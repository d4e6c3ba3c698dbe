"""The invitation detector end to end, on a hold-out set of mails built here from the facts.

The mails are written with ``email.message.EmailMessage`` in their own wording (not the corpus
generator's), in eight languages, forwarded, wrapped by gateways, imitated and answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import quote_plus

import pytest

from acchub_mailbot.app.inspect import INSPECT_KEYS, inspect_bytes
from acchub_mailbot.core.links import (
    mimecast_wrap,
    proofpoint_v2_wrap,
    proofpoint_v3_wrap,
    safe_links_wrap,
)
from acchub_mailbot.core.messages import Message, parse_message
from acchub_mailbot.handlers import DEFAULT_HANDLERS, decide
from acchub_mailbot.handlers.base import Decision, Verdict
from acchub_mailbot.handlers.guest_invite import GuestInviteHandler
from acchub_mailbot.handlers.invitation import InvitationHandler

BC = "https://businesscentral.dynamics.com"
MARKETING = "https://dynamics.microsoft.com/en-us/business-central/accountants"


def dotnet_urlencode(value: str) -> str:
    """.NET ``HttpUtility.UrlEncode``: ``+`` for space, lower-case hex, ``-_.!*()`` kept."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote_plus(value, safe="-_.!*()"))


def hub_link(link1: str, name: str) -> str:
    return (
        "https://accountants.dynamics.com/?page=21&mode=Edit&filter=Customer.'Client Link' IS "
        f"'''{dotnet_urlencode(link1)}''' AND Customer.Name IS '''{dotnet_urlencode(name)}'''"
    )


@dataclass(frozen=True)
class Lang:
    subject: str
    hello: str
    body: str
    regards: str
    sentence: str


# Our own phrasings; the detector must not depend on them.
LANGS = {
    "en": Lang("You have been invited to Dynamics 365 Business Central", "Hi {0},",
               "Please accept this invitation to get access to my Dynamics 365 Business Central.",
               "Kind regards,", "Open the following link to verify that you can log in."),
    "fr": Lang("Vous avez été invité à Dynamics 365 Business Central", "Bonjour {0},",
               "Merci d'accepter cette invitation pour accéder à mon Business Central.",
               "Cordialement,", "Cliquez sur ce lien pour confirmer votre connexion."),
    "de": Lang("Sie wurden zu Dynamics 365 Business Central eingeladen", "Hallo {0},",
               "Bitte nehmen Sie diese Einladung an.", "Viele Grüße",
               "Über den folgenden Link prüfen Sie die Anmeldung."),
    "nl": Lang("U bent uitgenodigd voor Dynamics 365 Business Central", "Beste {0},",
               "Accepteer deze uitnodiging voor toegang.", "Met vriendelijke groet,",
               "Gebruik deze koppeling om uw aanmelding te controleren."),
    "es": Lang("Ha sido invitado a Dynamics 365 Business Central", "Hola {0}:",
               "Acepte esta invitación para acceder.", "Saludos cordiales,",
               "Use este vínculo para comprobar el inicio de sesión."),
    "da": Lang("Du er blevet inviteret til Dynamics 365 Business Central", "Hej {0}",
               "Accepter invitationen for at få adgang.", "Med venlig hilsen",
               "Brug linket herunder til at bekræfte, at du kan logge på."),
    "it": Lang("Sei stato invitato a Dynamics 365 Business Central", "Ciao {0},",
               "Accetta l'invito per accedere.", "Cordiali saluti,",
               "Usa questo collegamento per verificare l'accesso."),
    "sv": Lang("Du har bjudits in till Dynamics 365 Business Central", "Hej {0}!",
               "Acceptera inbjudan för att få åtkomst.", "Vänliga hälsningar",
               "Använd länken nedan för att kontrollera inloggningen."),
}  # fmt: skip


@dataclass(frozen=True)
class Client:
    tenant: str
    company: str
    hub_name: str

    @property
    def link1(self) -> str:
        return f"{BC}/{self.tenant}?redirectedfromsignup=1"

    @property
    def client_url(self) -> str:
        return f"{BC}/{self.tenant.lower()}"


CLIENTS = {
    "en": Client("fjordline.onmicrosoft.com", "Fjordline Freight Ltd", "Fjordline Freight"),
    "fr": Client("atelier-roux.onmicrosoft.com", "Atelier Roux SARL", "Atelier Roux"),
    "de": Client("0b8e7c1d-2f3a-4b5c-9d6e-7f8091a2b3c4", "Holzbau Kühn GmbH", "Holzbau Kühn"),
    "nl": Client("dewindmolen.nl", "De Windmolen B.V.", "De Windmolen"),
    "es": Client("olivares-sur.onmicrosoft.com", "Olivares del Sur S.L.", "Olivares & Sur"),
    "da": Client("Skovgaard.onmicrosoft.com", "Skovgaard Tømrer ApS", "Skovgaard Tømrer"),
    "it": Client("vignetirossi.onmicrosoft.com", "Vigneti Rossi S.r.l.", "Vigneti d'Oro"),
    "sv": Client("norrsken.onmicrosoft.com", "Norrsken Kaffe AB", "Norrsken Kaffe AB"),
}


def bc_html(lang: str, client: Client, *, hub: bool = False, link1: str | None = None) -> str:
    """The body exactly as page 9033 builds it: welcome text, fixed part, link 1 as text."""
    words = LANGS[lang]
    link = link1 or client.link1
    welcome = "\n".join(
        [words.hello.format("Sam"), words.body, words.regards, "ADMIN", client.company]
    ).replace("\n", "</br>")
    html = f"{welcome}</br></br>{words.sentence}</br>{link}</br></br></br>"
    if hub:
        html += (
            f'To add my company to your Accountant Hub, click <a href="{hub_link(link, client.hub_name)}">'  # noqa: E501 - one table row per line reads best
            f'here</a>.</br></br></br>Not using the Accountant Hub?  Click <a href="{MARKETING}">here'  # noqa: E501 - one table row per line reads best
            "</a> to learn more.</br>"
        )
    return html


def original(
    lang: str, client: Client, *, hub: bool = False, html: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"admin@{client.tenant.split('.')[0]}.example"
    message["To"] = "sam@ledger.example"
    message["Subject"] = LANGS[lang].subject
    message["Message-ID"] = f"<orig-{lang}@client.example>"
    message.set_content(html or bc_html(lang, client, hub=hub), subtype="html", charset="utf-8")
    return message


def outlook_forward(inner: EmailMessage, *, prefix: str = "FW", fr: bool = False) -> EmailMessage:
    """Outlook desktop's inline forward; link 1 becomes an anchor with the URL as text."""
    html = str(inner.get_body().get_content())  # type: ignore[union-attr]
    html = re.sub(r"(https://businesscentral[^<\s]+)", r'<a href="\1">\1</a>', html)
    labels = ("De", "Envoyé", "À", "Objet") if fr else ("From", "Sent", "To", "Subject")
    head = "".join(
        f"<b>{label} :</b> {value}<br>" if fr else f"<b>{label}:</b> {value}<br>"
        for label, value in zip(
            labels, (inner["From"], "Friday", inner["To"], inner["Subject"]), strict=True
        )
    )
    outer = EmailMessage()
    outer["From"] = "colleague@ledger.example"
    outer["To"] = "sam@ledger.example"
    outer["Subject"] = f"{prefix}: {inner['Subject']}"
    outer["Message-ID"] = "<fw@ledger.example>"
    outer.set_content(
        "<p>FYI</p><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm'>"
        f"<p>{head}</p></div>{html}",
        subtype="html",
    )
    return outer


def text_forward(inner: EmailMessage, separator: str, prefix: str = "Fwd") -> EmailMessage:
    """A plain-text forward (Gmail, Apple Mail, OWA) of the HTML original, converted to text."""
    html = str(inner.get_body().get_content())  # type: ignore[union-attr]
    body = re.sub(r"<a href=\"([^\"]+)\">here</a>", r"here<\1>", html).replace("</br>", "\n")
    outer = EmailMessage()
    outer["From"] = "colleague@ledger.example"
    outer["Subject"] = f"{prefix}: {inner['Subject']}"
    outer["Message-ID"] = "<tfw@ledger.example>"
    outer.set_content(
        f"see below\n\n{separator}\nFrom: {inner['From']}\nDate: Fri, 1 Sep 2023\n"
        f"Subject: {inner['Subject']}\nTo: {inner['To']}\n\n{body}"
    )
    return outer


def run(message: EmailMessage | bytes) -> Decision:
    raw = message if isinstance(message, bytes) else message.as_bytes()
    return decide(parse_message(raw))


def rewrite_links(message: EmailMessage, wrap: object) -> EmailMessage:
    """Apply a gateway to every href (as a gateway does), keeping the visible text."""
    assert callable(wrap)
    html = str(message.get_body().get_content())  # type: ignore[union-attr]

    def repl(match: re.Match[str]) -> str:
        return f'href="{wrap(match.group(1)).replace("&", "&amp;")}"'

    out = EmailMessage()
    for key in ("From", "To", "Subject", "Message-ID"):
        if message[key]:
            out[key] = message[key]
    out.set_content(re.sub(r'href="([^"]+)"', repl, html), subtype="html")
    return out


# --- Originals in every language -------------------------------------------------------------


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_original_in_every_language(lang: str) -> None:
    """Any wording, any language: the link shape decides; the company is the signature line."""
    client = CLIENTS[lang]
    decision = run(original(lang, client))
    assert decision.verdict is Verdict.INVITATION
    assert decision.handler == "invitation"
    assert decision.access_link == client.link1
    assert decision.client_url == client.client_url
    assert decision.company_name == client.company
    assert decision.add_client_link is None
    assert "link shape: businesscentral.dynamics.com tenant link" in decision.reasons


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_hub_era_email_takes_the_name_from_the_hub_filter(lang: str) -> None:
    """The hub link is returned exactly as written; its Customer.Name is the company name."""
    client = CLIENTS[lang]
    decision = run(original(lang, client, hub=True))
    assert decision.verdict is Verdict.INVITATION
    assert decision.add_client_link == hub_link(client.link1, client.hub_name)
    assert decision.company_name == client.hub_name
    assert decision.extra["signature_name"] == client.company
    assert "company name: hub filter" in decision.reasons


def test_subject_wording_is_not_required() -> None:
    """An edited welcome text and an unrelated subject are still an invitation."""
    client = CLIENTS["en"]
    message = original(
        "en", client, html=f"hey, here you go</br>Fjordline</br></br>x</br>{client.link1}</br>"
    )
    del message["Subject"]
    message["Subject"] = "access"
    decision = run(message)
    assert decision.verdict is Verdict.INVITATION
    assert decision.company_name == "Fjordline"
    assert "phrase: subject" not in decision.reasons


def test_legacy_financials_link() -> None:
    """The 2017 Financials host is a client link too."""
    html = bc_html("en", CLIENTS["en"], link1="https://fjordline.financials.dynamics.com")
    decision = run(original("en", CLIENTS["en"], html=html))
    assert decision.verdict is Verdict.INVITATION
    assert decision.client_url == "https://fjordline.financials.dynamics.com"
    assert "link shape: legacy financials.dynamics.com link" in decision.reasons


# --- Forwards ------------------------------------------------------------------------------------


def test_outlook_desktop_forward_in_french() -> None:
    """An inline Outlook forward is detected with its locale; the forwarder is reported."""
    client = CLIENTS["fr"]
    decision = run(outlook_forward(original("fr", client, hub=True), prefix="TR", fr=True))
    assert decision.verdict is Verdict.INVITATION
    assert decision.forward_style == "outlook-desktop"
    assert decision.forwarded_by == "colleague@ledger.example"
    assert "forward: outlook-desktop (fr)" in decision.reasons
    assert decision.company_name == client.hub_name
    assert decision.add_client_link == hub_link(client.link1, client.hub_name)


@pytest.mark.parametrize(
    ("lang", "separator", "style"),
    [
        ("de", "---------- Forwarded message ---------", "gmail"),
        ("es", "________________________________", "outlook-web"),
        ("da", "Begin forwarded message:", "apple-mail"),
        ("nl", "-----Original Message-----", "outlook-desktop"),
    ],
)
def test_plain_text_forwards(lang: str, separator: str, style: str) -> None:
    """Text forwards keep link 1 as text and the hub link in ``<...>`` with its spaces."""
    client = CLIENTS[lang]
    decision = run(text_forward(original(lang, client, hub=True), separator))
    assert decision.verdict is Verdict.INVITATION
    assert decision.forward_style == style
    assert decision.access_link == client.link1
    assert decision.add_client_link == hub_link(client.link1, client.hub_name)
    assert decision.company_name == client.hub_name


def test_forward_as_attachment_decides_on_the_inner_message() -> None:
    """The attached original decides; its Message-ID is the one to de-duplicate on."""
    client = CLIENTS["sv"]
    outer = EmailMessage()
    outer["From"] = "colleague@ledger.example"
    outer["Subject"] = "VB: inbjudan"
    outer["Message-ID"] = "<outer@ledger.example>"
    outer.set_content("Se bifogat meddelande.")
    outer.add_attachment(original("sv", client))
    decision = run(outer)
    assert decision.verdict is Verdict.INVITATION
    assert decision.original_message_id == "<orig-sv@client.example>"
    assert decision.forward_style == "attachment"
    assert decision.forwarded_by == "colleague@ledger.example"
    assert decision.company_name == client.company
    result = inspect_bytes(outer.as_bytes(), "attached.eml")
    assert result["message_id"] == "<orig-sv@client.example>"


def test_forwarded_twice() -> None:
    """A forward of an inline forward is still the invitation, counted twice."""
    client = CLIENTS["it"]
    first = text_forward(original("it", client), "---------- Forwarded message ---------")
    second = text_forward(first, "---------- Forwarded message ---------")
    decision = run(second)
    assert decision.verdict is Verdict.INVITATION
    assert decision.access_link == client.link1
    assert any("forwarded twice" in r for r in decision.reasons)


# --- Gateways ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrap", "name"),
    [
        (lambda u: safe_links_wrap(u, region="gbr01"), "safelinks"),
        (proofpoint_v2_wrap, "proofpoint-v2"),
        (proofpoint_v3_wrap, "proofpoint-v3"),
        (lambda u: safe_links_wrap(proofpoint_v3_wrap(u)), "safelinks"),
    ],
)
def test_wrapped_forward_is_unwrapped(wrap: object, name: str) -> None:
    """Gateways that rewrote the hrefs are undone; the hub link comes back with raw spaces."""
    client = CLIENTS["en"]
    message = rewrite_links(outlook_forward(original("en", client, hub=True)), wrap)
    decision = run(message)
    assert decision.verdict is Verdict.INVITATION
    assert f"unwrapped: {name}" in decision.reasons
    assert decision.add_client_link == hub_link(client.link1, client.hub_name)
    assert decision.access_link == client.link1


def test_mimecast_with_visible_text_uses_the_text() -> None:
    """Mimecast hrefs are opaque; the anchor text (the URL) is the link."""
    client = CLIENTS["de"]
    decision = run(rewrite_links(outlook_forward(original("de", client, hub=True)), mimecast_wrap))
    assert decision.verdict is Verdict.INVITATION
    assert decision.access_link == client.link1
    assert decision.add_client_link is None
    assert decision.company_name == client.company


def test_mimecast_without_visible_url_needs_review() -> None:
    """No readable copy of link 1: a person must look; ``domain=`` is never used as a link."""
    client = CLIENTS["en"]
    html = bc_html("en", client).replace(
        client.link1, f'<a href="{mimecast_wrap(client.link1)}">Open link</a>'
    )
    decision = run(original("en", client, html=html))
    assert decision.verdict is Verdict.NEEDS_REVIEW
    assert decision.client_url is None and decision.access_link is None


def test_marketing_and_other_links_are_ignored() -> None:
    """A genuine link next to Microsoft marketing and unrelated links is an invitation."""
    client = CLIENTS["nl"]
    html = bc_html("nl", client) + (
        f'<a href="{MARKETING}">info</a> <a href="https://go.microsoft.com/fwlink/?linkid=1">x</a>'
        ' <a href="https://www.example.org/news">news</a> https://businesscentral.dynamics.com/'
        "?company=CRONUS&page=22"
    )
    decision = run(original("nl", client, html=html))
    assert decision.verdict is Verdict.INVITATION
    assert decision.client_url == client.client_url


# --- Look-alikes -----------------------------------------------------------------------------------  # noqa: E501 - one table row per line reads best

LOOKALIKES = [
    ("https://businesscentral.dynamics.com.evil.example/t.onmicrosoft.com?redirectedfromsignup=1", "look-alike"),  # noqa: E501 - one table row per line reads best
    ("https://businesscentral-dynamics.com/t.onmicrosoft.com?redirectedfromsignup=1", "look-alike"),
    ("https://xn--businesscentrl-7tl.dynamics.com/t.onmicrosoft.com?redirectedfromsignup=1", "punycode"),  # noqa: E501 - one table row per line reads best
    ("https://businesscentrаl.dynamics.com/t.onmicrosoft.com?redirectedfromsignup=1", "punycode"),
    ("https://203.0.113.7/t.onmicrosoft.com?redirectedfromsignup=1", "ip address"),
    ("http://businesscentral.dynamics.com/t.onmicrosoft.com?redirectedfromsignup=1", "https"),
    ("https://businesscentral.dynamics.com@evil.example/t.onmicrosoft.com?redirectedfromsignup=1", "user-info"),  # noqa: E501 - one table row per line reads best
    ("https://businesscentral.dynamics.com:8443/t.onmicrosoft.com?redirectedfromsignup=1", "port"),
    ("https://businesscentral.dynamics-tie.com/t.onmicrosoft.com?redirectedfromsignup=1", "test environment"),  # noqa: E501 - one table row per line reads best
    ("https://businesscentral.dynamics-servicestie.com/t.onmicrosoft.com?redirectedfromsignup=1", "test environment"),  # noqa: E501 - one table row per line reads best
    ("https://t.financials.dynamics-ppe.com", "test environment"),
    ("https://businesscentral.dynamlcs.com/t.onmicrosoft.com?redirectedfromsignup=1", "look-alike"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "keyword"), LOOKALIKES)
def test_lookalike_links_are_rejected(url: str, keyword: str) -> None:
    """A link shaped like an invitation that fails the URL rules is rejected with the reason."""
    client = CLIENTS["en"]
    decision = run(original("en", client, html=bc_html("en", client, link1=url)))
    assert decision.verdict is Verdict.REJECTED
    assert decision.rejected_url == url
    assert any(r.startswith("rule failed:") and keyword in r.lower() for r in decision.reasons)


def test_genuine_text_with_foreign_href_is_rejected() -> None:
    """The classic phishing trick: a genuine URL as anchor text over a foreign href."""
    client = CLIENTS["en"]
    evil = "https://evil.example/t.onmicrosoft.com?redirectedfromsignup=1"
    html = bc_html("en", client).replace(client.link1, f'<a href="{evil}">{client.link1}</a>')
    decision = run(original("en", client, html=html))
    assert decision.verdict is Verdict.REJECTED
    assert decision.rejected_url == evil


def test_hub_link_naming_another_client_is_rejected() -> None:
    """The hub filter's client link must agree with link 1."""
    client = CLIENTS["en"]
    other = f"{BC}/someone-else.onmicrosoft.com?redirectedfromsignup=1"
    html = bc_html("en", client, hub=True).replace(
        dotnet_urlencode(client.link1), dotnet_urlencode(other)
    )
    decision = run(original("en", client, html=html))
    assert decision.verdict is Verdict.REJECTED
    assert any("does not match" in r for r in decision.reasons)


# --- Negatives -----------------------------------------------------------------------------------


def _with_headers(message: EmailMessage, **headers: str) -> EmailMessage:
    for key, value in headers.items():
        message[key.replace("_", "-")] = value
    return message


@pytest.mark.parametrize(
    "build",
    [
        # A reply quoting the invitation, with prefix and In-Reply-To.
        lambda: _with_headers(
            text_forward(original("de", CLIENTS["de"]), "-----Original Message-----", "AW"),
            In_Reply_To="<orig-de@client.example>",
        ),
        # In-Reply-To alone, quoting with ">".
        lambda: _with_headers(
            _plain("Thanks!\n\n> " + CLIENTS["en"].link1 + "\n> Kind regards\n", "access"),
            In_Reply_To="<orig-en@client.example>",
        ),
        lambda: _with_headers(original("en", CLIENTS["en"]), Auto_Submitted="auto-replied"),
        lambda: _with_headers(original("en", CLIENTS["en"]), X_Autoreply="yes"),
        lambda: _with_headers(original("en", CLIENTS["en"]), Precedence="auto_reply"),
        lambda: _with_headers(
            original("en", CLIENTS["en"]), List_Unsubscribe="<https://news.example/u>"
        ),
    ],
)
def test_replies_and_automatic_mail_are_never_invitations(build: object) -> None:
    """Replies and automatic mail quote invitations but are not ones."""
    assert callable(build)
    decision = run(build())
    assert decision.verdict is Verdict.NOT_INVITATION
    assert decision.client_url is None


def _plain(text: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "someone@example.org"
    message.set_content(text)
    return message


def test_delivery_report_containing_an_invitation() -> None:
    """A bounce (multipart/report) carrying the invitation is not an invitation."""
    raw = (
        b"From: MAILER-DAEMON@ledger.example\r\nSubject: Undeliverable: invitation\r\n"
        b"Message-ID: <ndr@ledger.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n"
        + original("en", CLIENTS["en"]).as_bytes()
        + b"\r\n--b--\r\n"
    )
    decision = run(raw)
    assert decision.verdict is Verdict.NOT_INVITATION
    assert any("delivery report" in r for r in decision.reasons)
    assert inspect_bytes(raw, "ndr.eml")["message_id"] == "<ndr@ledger.example>"


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Approval request: Purchase Order 1001",
         f"<p>Open it in <a href='{BC}/?company=CRONUS&page=50'>Business Central</a></p>"),
        ("You have been invited to Microsoft Teams",
         "<a href='https://teams.microsoft.com/l/team/abc'>Join</a>"),
        ("Your weekly Dynamics 365 news", f"<a href='{MARKETING}'>Read</a>"),
        ("Xero invitation", "<a href='https://login.xero.com/invite/abc'>Accept</a>"),
    ],
)  # fmt: skip
def test_other_mail_is_declined(subject: str, body: str) -> None:
    """Other BC notifications, other products and newsletters: no handler claims them."""
    message = EmailMessage()
    message["Subject"] = subject
    message.set_content(body, subtype="html")
    decision = run(message)
    assert decision.verdict is Verdict.NOT_INVITATION
    assert decision.handler == "none"


# --- Guest invitations, dispatch, inspect ------------------------------------------------------


def test_microsoft_guest_invitation_needs_review() -> None:
    """Microsoft's B2B guest invitation is not the wizard's email: a person should look."""
    message = EmailMessage()
    message["From"] = "Microsoft Invitations on behalf of Client <invites@microsoft.com>"
    message["Subject"] = "Client invited you to access applications within their organization"
    redeem = (
        "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com"
        "%2fredeem%2f%3ftenant%3dabc%26user%3ddef%26ticket%3dx%26ver%3d2.0"
    )
    message.set_content(
        f"<a href='{safe_links_wrap(redeem)}'>Accept invitation</a>", subtype="html"
    )
    decision = run(message)
    assert decision.verdict is Verdict.NEEDS_REVIEW
    assert decision.handler == "guest_invite"
    assert any("invited you by hand" in r for r in decision.reasons)


def test_decide_asks_handlers_in_order() -> None:
    """The first non-None decision wins; all declining gives ``not_invitation`` from "none"."""

    class Always:
        name = "always"

        def decide(self, message: Message) -> Decision | None:
            return Decision(Verdict.NEEDS_REVIEW, "always")

    message = parse_message(original("en", CLIENTS["en"]).as_bytes())
    assert decide(message, (Always(), InvitationHandler())).handler == "always"
    assert decide(message, (InvitationHandler(), Always())).handler == "invitation"
    empty = decide(parse_message(b"Subject: hi\r\n\r\nhello"), ())
    assert (empty.verdict, empty.handler) == (Verdict.NOT_INVITATION, "none")
    assert [h.name for h in DEFAULT_HANDLERS] == ["invitation", "guest_invite"]
    assert GuestInviteHandler().decide(message) is None


def test_inspect_contract() -> None:
    """``inspect_bytes`` gives exactly the contract's keys, also for bytes that are not mail."""
    client = CLIENTS["fr"]
    result = inspect_bytes(original("fr", client).as_bytes(), "a.eml")
    assert tuple(result) == INSPECT_KEYS
    assert result == {
        "path": "a.eml",
        "message_id": "<orig-fr@client.example>",
        "verdict": "invitation",
        "company_name": client.company,
        "client_url": client.client_url,
        "access_link": client.link1,
        "add_client_link": None,
        "reasons": result["reasons"],
    }
    assert isinstance(result["reasons"], list) and all(
        isinstance(r, str) for r in result["reasons"]
    )
    garbage = inspect_bytes(b"\x00\xff not mail at all", "g.bin")
    assert garbage["verdict"] == "not_invitation" and garbage["reasons"]
