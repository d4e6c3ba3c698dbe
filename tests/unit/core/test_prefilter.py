"""The prefilter (core.prefilter) must never drop a message the detector would report.

Every test here pins down one half of that contract: reportable messages always pass (corpus,
wrapped and encoded links, look-alike hosts, markup tricks), and ordinary mail is dropped (or the
prefilter would be pointless).
"""

from __future__ import annotations

import base64
import contextlib
import html
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acchub_mailbot.app.pipeline import decide_bytes
from acchub_mailbot.core import bodyparts, prefilter
from acchub_mailbot.core.htmltext import html_to_text
from acchub_mailbot.core.limits import Limits
from acchub_mailbot.core.links import (
    mimecast_wrap,
    proofpoint_v1_wrap,
    proofpoint_v2_wrap,
    proofpoint_v3_wrap,
    safe_links_wrap,
)
from tests.fuzz.composed import Composed, invitations, lookalikes

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))["entries"]


@pytest.mark.parametrize(
    "entry", [e for e in MANIFEST if e["verdict"] != "not_invitation"], ids=lambda e: e["file"]
)
def test_every_reportable_corpus_message_passes(entry: dict[str, str]) -> None:
    """Invitations, look-alikes and review cases of the corpus all reach the parser."""
    assert prefilter.message_could_be_invitation((CORPUS / entry["file"]).read_bytes())


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.name)
def test_whatever_the_detector_reports_passes(path: Path) -> None:
    """Checked against the detector itself, not only the manifest."""
    raw = path.read_bytes()
    _message, decision = decide_bytes(raw)
    if decision.verdict.value != "not_invitation":
        assert prefilter.message_could_be_invitation(raw)


def _mail(body: str, *, subtype: str = "html", charset: str = "utf-8", cte: str | None = None,
          subject: str = "Hello", sender: str = "someone@client.example") -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "dana@firm.example"
    msg["Subject"] = subject
    msg["Message-ID"] = "<p1@client.example>"
    msg.set_content(body, subtype=subtype, charset=charset, cte=cte)
    return msg.as_bytes()


def test_ordinary_mail_is_dropped() -> None:
    """Notes and newsletters without any marker never reach the parser."""
    assert not prefilter.message_could_be_invitation(
        _mail("Lunch on Friday? See https://example.com/menu", subtype="plain")
    )
    newsletter = (
        "<html><head><style>p{color:red}</style></head><body><table><tr><td><p>News</p>"
        '<a href="https://news.example.org/a?utm=1&amp;x=2">Read</a></td></tr></table></body>'
        "</html>"
    )
    assert not prefilter.message_could_be_invitation(_mail(newsletter))


def test_subject_and_sender_markers_pass() -> None:
    """An invitation subject (even RFC 2047-encoded, even dotless i) and Microsoft's guest
    invitation sender each make a message pass."""
    assert prefilter.message_could_be_invitation(
        _mail("x", subject="You have been invited to Dynamics 365 Business Central")
    )
    encoded = base64.b64encode("Invité à Fınancıals".encode()).decode("ascii")
    assert prefilter.header_could_be_invitation(f"Subject: =?utf-8?b?{encoded}?=\r\n".encode())
    assert prefilter.header_could_be_invitation("Subject: Fınancıals\r\n".encode())
    assert prefilter.message_could_be_invitation(_mail("x", sender="invites@microsoft.com"))


def test_parser_limits_make_a_message_pass() -> None:
    """A text part over the parser's limit is ``needs_review`` whatever it says."""
    big = (b"TEXT", b"PLAIN", None, None, None, b"7BIT", 3 * 1024 * 1024, 1, None, None)
    plan = bodyparts.plan(big)
    assert prefilter.may_hit_limits(plan, Limits())
    assert prefilter.sections_could_be_invitation(plan, {"HEADER": b"\r\n", "TEXT": b"x"})


# -- properties ----------------------------------------------------------------------------------

TENANTS = st.from_regex(r"[a-z][a-z0-9-]{2,20}\.onmicrosoft\.com", fullmatch=True)
WRAPS = st.sampled_from(
    [
        lambda u: u,
        safe_links_wrap,
        proofpoint_v1_wrap,
        proofpoint_v2_wrap,
        proofpoint_v3_wrap,
        mimecast_wrap,
        lambda u: safe_links_wrap(proofpoint_v2_wrap(u)),
        lambda u: proofpoint_v3_wrap(safe_links_wrap(u)),
        lambda u: safe_links_wrap(safe_links_wrap(u)),
        lambda u: quote(u, safe=""),
    ]
)
PLACEMENTS = st.sampled_from(["href", "text", "entities", "split", "angle", "plain"])
ENCODINGS = st.sampled_from([(None, "utf-8"), ("quoted-printable", "utf-8"),
                             ("base64", "utf-8"), ("base64", "iso-8859-1"),
                             ("quoted-printable", "windows-1252")])  # fmt: skip


def _place(url: str, how: str) -> tuple[str, str]:
    if how == "href":
        return f'<p>Open <a href="{html.escape(url)}">this link</a></p>', "html"
    if how == "entities":
        encoded = "".join(f"&#{ord(c)};" if c.isalpha() else html.escape(c) for c in url)
        return f"<p>{encoded}</p>", "html"
    if how == "split":
        middle = len(url) // 2
        return (
            f"<p>{html.escape(url[:middle])}<span></span><!-- x -->{html.escape(url[middle:])}</p>",
            "html",
        )
    if how == "angle":
        return f"Open the link <{url}>", "plain"
    if how == "plain":
        return f"Open the following link:\n{url}\n", "plain"
    return f"<div>Open the following link</div><div>{html.escape(url)}</div>", "html"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TENANTS, WRAPS, PLACEMENTS, ENCODINGS)
def test_wrapped_and_encoded_invitation_links_pass(tenant, wrap, how, encoding) -> None:  # type: ignore[no-untyped-def]
    """Whatever gateway wrapped the link and however the body is written and encoded, a message
    carrying an access link passes."""
    url = wrap(f"https://businesscentral.dynamics.com/{tenant}?redirectedfromsignup=1")
    body, subtype = _place(url, how)
    cte, charset = encoding
    raw = _mail(body, subtype=subtype, cte=cte, charset=charset)
    assert prefilter.message_could_be_invitation(raw)


HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "i": "і", "c": "с", "s": "ѕ", "n": "ո"}


@st.composite
def lookalike_hosts(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(["businesscentral.dynamics.com", "accountants.dynamics.com",
                                 "mybiz.financials.dynamics.com"]))  # fmt: skip
    chars = list(base)
    for _ in range(draw(st.integers(0, 3))):
        index = draw(st.integers(0, len(chars) - 1))
        action = draw(st.sampled_from(["glyph", "drop", "double", "swap", "upper", "fullwidth"]))
        c = chars[index]
        if action == "glyph" and c in HOMOGLYPHS:
            chars[index] = HOMOGLYPHS[c]
        elif action == "drop" and c != ".":
            chars[index] = ""
        elif action == "double":
            chars[index] = c + c
        elif action == "swap" and index + 1 < len(chars):
            chars[index], chars[index + 1] = chars[index + 1], chars[index]
        elif action == "upper":
            chars[index] = c.upper()
        elif action == "fullwidth" and len(c) == 1 and "a" <= c <= "z":
            chars[index] = chr(ord(c) - 0x61 + 0xFF41)
    host = "".join(chars)
    if draw(st.booleans()):
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    suffix = draw(st.sampled_from(["", ".evil.example", "-login.example"]))
    return host + suffix


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lookalike_hosts(), st.sampled_from(["?redirectedfromsignup=1", "/", "/?page=21"]),
       PLACEMENTS, WRAPS)  # fmt: skip
def test_whatever_is_reported_about_lookalikes_passes(host, tail, how, wrap) -> None:  # type: ignore[no-untyped-def]
    """The detector's own verdict is the oracle: anything it would report passes."""
    url = wrap(f"https://{host}/tenant.onmicrosoft.com{tail}" if tail.startswith("?")
               else f"https://{host}{tail}")  # fmt: skip
    body, subtype = _place(url, how)
    raw = _mail(body, subtype=subtype)
    _message, decision = decide_bytes(raw)
    if decision.verdict.value != "not_invitation":
        assert prefilter.message_could_be_invitation(raw), decision


FRAGMENTS = st.sampled_from(
    [
        "<p>", "</p>", "<br>", "</br>", "<b class='x'>", "</b>", "<!-- c -->", "<!-- a > b -->",
        "<style>p{}</style>", "<script>if (a<b) {}</script>", "<title>t</title>", "<head>",
        "</head>", '<a title="x>y">', "&amp;", "&lt;", "&#100;", "a < b", "x > y", "text ",
        "dyna", "mics", "<td>", "<![CDATA[z]]>", "<?pi?>", "</ x>", "<style-x>", "busi",
        "<style/>", "<head><style>s</style><title>t</title></head>", "</style>", "<title>",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(FRAGMENTS, max_size=14))
def test_fast_visible_text_matches_html_to_text(fragments: list[str]) -> None:
    """Where the regular-expression renderer answers, it agrees with the detector's renderer
    (up to what squash ignores); otherwise it declines and html_to_text is used."""
    markup = "".join(fragments)
    fast = prefilter._fast_visible(markup)
    if fast is not None:
        # The prefilter checks the text both as is and entity-decoded (html_to_text decodes
        # entities per text run, so one split by a tag stays literal).
        views = {prefilter.squash(fast), prefilter.squash(html.unescape(fast))}
        assert prefilter.squash(html_to_text(markup)) in views


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["quoted-printable", "base64", "7bit", "x-odd"]))
def test_transfer_decoding_is_the_parsers(payload: bytes, encoding: str) -> None:
    """The prefilter decodes a body exactly as the detector's ``get_payload(decode=True)``."""
    part = EmailMessage()
    part["Content-Transfer-Encoding"] = encoding
    part.set_payload(payload.decode("ascii", "surrogateescape"))
    assert prefilter._transfer_decoded(payload, encoding) == part.get_payload(decode=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(invitations(), lookalikes()))
def test_every_composed_message_the_detector_reports_passes(case: Composed) -> None:
    """The composed suites (every axis at once, unknown gateways among them) against the
    prefilter, with the detector's verdict as the oracle."""
    _message, decision = decide_bytes(case.raw)
    if decision.verdict.value != "not_invitation":
        assert prefilter.message_could_be_invitation(case.raw), case.axes
