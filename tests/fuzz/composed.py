"""Invitations composed from independent axes, each with the fields the detector must report.

The axes are drawn separately and combined freely, so that the suite meets shapes that no one
wrote down: language and labels, era, tenant form and environment, welcome text, forward style
and depth, a chain of link gateways (named vendors and randomly generated unknown ones: random
host, parameter or path position, encoding), MIME layout, charset and transfer encoding, and
line wrapping of the text part. The builders are the labelled corpus's own
(``tests/corpus/generate.py``), which follow the research notes, not the detector.

:func:`lookalikes` draws the other side: lying links and look-alike hosts, which must be
``rejected`` whatever surrounds them.
"""

from __future__ import annotations

import base64
import html
import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from hypothesis import assume
from hypothesis import strategies as st

from tests.corpus import generate as g
from tests.corpus import generate_shapes as shapes

g.LABELS.update(shapes.NEW_LABELS)
g.EXTRA_LANG_TAGS.update(shapes.NEW_TAGS)

Wrap = Callable[[str], str]

#: Charsets that can carry each language's labels and names (utf-8 carries them all).
LEGACY_CHARSETS = {
    "en": ["us-ascii", "iso-8859-1", "windows-1252"],
    "fr": ["iso-8859-1", "iso-8859-15", "windows-1252"],
    "de": ["iso-8859-1", "iso-8859-15", "windows-1252"],
    "nl": ["iso-8859-1", "windows-1252"],
    "es": ["iso-8859-1", "windows-1252"],
    "da": ["iso-8859-1", "windows-1252"],
    "it": ["iso-8859-1", "windows-1252"],
    "sv": ["iso-8859-1", "windows-1252"],
    "nb": ["iso-8859-1", "windows-1252"],
    "fi": ["iso-8859-1", "windows-1252"],
    "cs": ["iso-8859-2", "windows-1250"],
    "is": ["iso-8859-1", "windows-1252"],
    "ru": ["koi8-r", "windows-1251", "iso-8859-5"],
    "pl": ["iso-8859-2", "windows-1250"],
    "pt": ["iso-8859-1", "windows-1252"],
    "ja": ["iso-2022-jp", "shift_jis", "euc-jp"],
}
LANGUAGES = sorted(g.LABELS)
ENVIRONMENTS = ["Production", "Sandbox", "UAT-2024", "test_env"]

_LABEL = st.from_regex(r"[a-z][a-z0-9]{1,9}", fullmatch=True)
#: Names the detector rightly treats as those vendors' or Microsoft's own hosts.
_KNOWN = ("mimecast", "urldefense", "proofpoint", "avanan", "safelinks", "microsoft", "dynamics",
          "office", "outlook", "bing", "live")  # fmt: skip


@st.composite
def unknown_gateway(draw: st.DrawFn) -> tuple[str, Wrap]:
    """A link gateway nobody listed: random host, where the URL goes, and how it is encoded."""
    labels = draw(st.lists(_LABEL, min_size=2, max_size=4))
    tld = draw(st.sampled_from(["com", "net", "io", "example", "cloud", "eu"]))
    host = ".".join(labels) + "." + tld
    assume(not any(known in host for known in _KNOWN))
    param = draw(_LABEL.filter(lambda p: p not in ("url", "u", "q", "a", "target")))
    encoding = draw(
        st.sampled_from(["percent", "percent x2", "base64", "base64url", "base64 no padding"])
    )
    where = draw(st.sampled_from(["query", "query after others", "path", "fragment", "written"]))
    token = draw(st.text(string.ascii_letters + string.digits, min_size=4, max_size=24))

    def encode(url: str) -> str:
        if encoding == "percent":
            return quote(url, safe="")
        if encoding == "percent x2":
            return quote(quote(url, safe=""), safe="")
        raw = url.encode("utf-8")
        if encoding == "base64":
            return quote(base64.b64encode(raw).decode("ascii"), safe="")
        text = base64.urlsafe_b64encode(raw).decode("ascii")
        return text.rstrip("=") if encoding == "base64 no padding" else text

    def wrap(url: str) -> str:
        if where == "written":
            return f"https://{host}/{token}/{url}"
        value = encode(url)
        if where == "query":
            return f"https://{host}/r?{param}={value}&t={token}"
        if where == "query after others":
            return f"https://{host}/v1/check?id={token}&lang=en&{param}={value}"
        if where == "path":
            return f"https://{host}/{token}/{value}"
        return f"https://{host}/go#{param}={value}"

    return f"{host} ({where}, {encoding})", wrap


def _named(name: str) -> tuple[str, Wrap]:
    if name in shapes.GATEWAYS:
        function = shapes.GATEWAYS[name][0]
        return name, lambda u: function(g, u)
    return name, {
        "safelinks": lambda u: g.safelinks(u, "eur02"),
        "proofpoint-v2": g.proofpoint_v2,
        "proofpoint-v3": g.proofpoint_v3,
    }[name]


NAMED = sorted({*shapes.GATEWAYS, "safelinks", "proofpoint-v2", "proofpoint-v3"})
gateway = st.one_of(st.sampled_from(NAMED).map(_named), unknown_gateway())


def chain(wraps: list[tuple[str, Wrap]]) -> Wrap:
    """The first gateway wraps the link, the next wraps that, and so on."""

    def apply(url: str) -> str:
        for _name, wrap in wraps:
            url = wrap(url)
        return url

    return apply


@dataclass(frozen=True)
class Composed:
    """One generated email, how it was made, and what the detector must report."""

    raw: bytes
    axes: dict[str, Any]
    expected: dict[str, Any]


def _tenant(draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(["initial domain", "guid", "GUID", "custom domain", "MixedCase"]))
    name = draw(_LABEL)
    if form == "initial domain":
        return f"{name}.onmicrosoft.com"
    if form in ("guid", "GUID"):
        value = str(draw(st.uuids()))
        return value.upper() if form == "GUID" else value
    if form == "custom domain":
        return f"{name}-{draw(_LABEL)}.example"
    return f"{name.capitalize()}{draw(_LABEL).capitalize()}.onmicrosoft.com"


_COMPANY = st.builds(
    lambda words, suffix: " ".join([w.capitalize() for w in words] + [suffix]),
    st.lists(st.sampled_from(["Harbour", "Aster", "Quill", "Nordic", "Müller", "Dvořák", "Åkesson",
                              "O’Neill", "Tanaka", "Волков", "Żuraw", "Sól", "Fjord", "&"]),
             min_size=1, max_size=3),
    st.sampled_from(["Ltd", "GmbH", "AB", "Oy", "S.L.", "B.V.", "ApS", "s.r.o.", "Lda.", "ehf.",
                     "Sp. z o.o.", "株式会社", "ООО", "Inc."]),
)  # fmt: skip


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


@st.composite
def invitations(draw: st.DrawFn) -> Composed:
    """An invitation drawn from every axis at once, with its exact expected fields."""
    lang = draw(st.sampled_from(LANGUAGES))
    era = draw(st.sampled_from(["current", "hub"]))
    tenant = _tenant(draw)
    environment = draw(st.sampled_from([None, None, *ENVIRONMENTS]))
    company = draw(_COMPANY)
    admin = g.Person("Oliver", "Oliver Grant", "oliver.grant@client-company.example")
    accountant = g.Person("Dana", "Dana Fisher", "dana.fisher@ledger-firm.example")
    welcome_kind = draw(st.sampled_from(["default", "edited", "company deleted"]))
    link1 = None
    if environment is not None:
        link1 = f"{g.BC_HOST}{tenant}/{environment}?redirectedfromsignup=1"
    inv = g.Invite(
        lang, tenant, company, "OLIVER.GRANT", admin, accountant, g.when(2024, 5, 6, 8, 0),
        hub_name=(company + " (Hub)") if era == "hub" else None, link1=link1,
    )  # fmt: skip
    expected_company: str | None = inv.expected_company
    if welcome_kind == "edited":
        inv = replace(inv, welcome=f"Hi Dana,\n\nhere is our access.\n\nThanks\nOliver\n{company}")
    elif welcome_kind == "company deleted":
        inv = replace(inv, welcome="Hi Dana,\n\nhere is our access.\n\nThanks,\nOliver")
        expected_company = inv.hub_name  # only the hub can still name it
    wraps = draw(st.lists(gateway, max_size=3))
    wrap = chain(wraps)
    forward = draw(
        st.sampled_from(["none", "outlook-desktop", "outlook-web", "gmail", "thunderbird",
                         "apple-mail", "apple-mail text", "outlook plain text", "attachment",
                         "attachment of outlook-desktop", "outlook-desktop of gmail"])
    )  # fmt: skip
    # Some gateways rewrite the URL a link shows as well as its href.
    text_rewritten = forward != "none" and draw(st.booleans())
    line_break = draw(st.sampled_from([None, 0.3, 0.5, 0.8]))
    # A gateway that cannot be reversed offline (Mimecast) as the last one, on a forward whose
    # link 1 became an anchor: its label is the URL (the detector reads the text) or a word
    # (nothing to read: a person decides).
    irreversible = None
    textual = ("none", "attachment", "apple-mail text", "outlook plain text")
    if forward not in textual and not text_rewritten and draw(st.booleans()):
        irreversible = draw(st.sampled_from(["label is the URL", "label is a word"]))
        wraps = [*wraps, ("mimecast", lambda u: g.mimecast(u))]
        wrap = chain(wraps)
    seed = draw(st.text(string.ascii_letters, min_size=1, max_size=8))
    msgid = g.exo_msgid("composed-" + seed)

    def text_wrap(url: str) -> str:
        wrapped = wrap(url)
        if line_break is None:
            return wrapped
        # Clients wrap at 72 to 78 columns, so a break comes no earlier than column 60.
        at = max(60, int(len(wrapped) * line_break))
        return wrapped[:at] + "\n" + wrapped[at:] if at < len(wrapped) else wrapped

    charset = "utf-8"
    cte = draw(st.sampled_from(["quoted-printable", "base64", "8bit"]))
    layout = draw(st.sampled_from(["html", "alternative"]))
    if draw(st.booleans()):
        candidates = [c for c in LEGACY_CHARSETS[lang] if _encodable(inv.fragment(), c)]
        charset = draw(st.sampled_from(candidates)) if candidates else "utf-8"
        if charset in ("us-ascii", "iso-2022-jp"):
            cte = "7bit"
    try:
        original = g.original(
            inv, msgid, mime=layout, charset=charset, cte=cte, href_wrap=wrap, text_wrap=text_wrap
        )
    except ValueError:  # a line too long for 8bit/7bit: a mail client would use QP
        cte = "quoted-printable"
        original = g.original(
            inv, msgid, mime=layout, charset=charset, cte=cte, href_wrap=wrap, text_wrap=text_wrap
        )
    raw = original
    if forward != "none":
        fwd = g.Fwd(accountant, g.ANNA, g.when(2024, 5, 6, 9, 0), "New client, please add.",
                    "FW:", sent_text="Monday, May 6, 2024 10:00 AM")  # fmt: skip
        hide = "Open Business Central" if irreversible == "label is a word" else None
        body_html = g.render_html_lines(
            inv.lines(), autolink=True, wrap=wrap, hide_link1=hide,
            text_wrap=wrap if text_rewritten else None,
        )  # fmt: skip
        body_text = g.render_text_lines(inv.lines(), wrap=text_wrap)
        orig_from, orig_to = admin.header(), accountant.header()
        fid = g.exo_msgid("composed-fwd-" + seed)
        if forward.startswith("attachment"):
            inner = original
            if forward.endswith("outlook-desktop"):
                inner, _ = g.outlook_desktop_forward(
                    inv.subject_line, orig_from, orig_to, body_html, body_text, fwd,
                    g.exo_msgid("composed-inner-" + seed), "en",
                )  # fmt: skip
            raw, _ = g.attach_forward(inner, inv.subject_line, fwd, fid)
        elif forward == "outlook-desktop":
            raw, _ = g.outlook_desktop_forward(
                inv.subject_line, orig_from, orig_to, body_html, body_text, fwd, fid, "en"
            )
        elif forward == "outlook-desktop of gmail":
            # Forwarded twice: Gmail first, then Outlook around Gmail's block.
            gmail_block = (
                '<div>FYI</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
                "---------- Forwarded message ---------<br>From: <strong>Oliver Grant</strong> "
                f"&lt;{admin.addr}&gt;<br>Date: Mon, May 6, 2024 at 9:00 AM<br>Subject: "
                f"{html.escape(inv.subject_line)}<br>To: &lt;{accountant.addr}&gt;<br></div>"
                f"<br><br>{body_html}</div>"
            )
            gmail_text = [
                "FYI",
                "",
                "---------- Forwarded message ---------",
                f"From: Oliver Grant <{admin.addr}>",
                "Date: Mon, May 6, 2024 at 9:00 AM",
                f"Subject: {inv.subject_line}",
                f"To: <{accountant.addr}>",
                "",
                *body_text,
            ]
            raw, _ = g.outlook_desktop_forward(
                "Fwd: " + inv.subject_line, accountant.header(), g.ANNA.header(), gmail_block,
                gmail_text, fwd, fid, "en",
            )  # fmt: skip
        elif forward == "apple-mail text":
            raw, _ = g.apple_text_forward(inv.subject_line, orig_from, orig_to, body_text, fwd, fid)
        elif forward == "outlook plain text":
            raw, _ = g.outlook_plain_forward(
                inv.subject_line, orig_from, orig_to, body_text, fwd, fid
            )
        elif forward == "outlook-web":
            raw, _ = g.owa_forward(
                inv.subject_line, orig_from, orig_to, body_html, body_text, fwd, fid, "en"
            )
        elif forward == "gmail":
            raw, _ = g.gmail_forward(
                inv.subject_line, admin.name, admin.addr, orig_to, body_html, body_text, fwd, fid
            )
        elif forward == "thunderbird":
            try:
                raw, _ = g.thunderbird_forward(
                    inv.subject_line, orig_from, orig_to, body_html, body_text, fwd, fid
                )
            except ValueError:  # Thunderbird writes 8bit; a line over 998 octets is not mail
                assume(False)
        else:
            raw, _ = g.apple_html_forward(inv.subject_line, orig_from, orig_to, body_html, fwd, fid)
    client_url = f"{g.BC_HOST}{tenant.lower()}" + (f"/{environment}" if environment else "")
    expected: dict[str, Any] = {
        "verdict": "invitation",
        "access_link": inv.access_link,
        "add_client_link": inv.add_client_link,
        "client_url": client_url,
        "company_name": expected_company,
    }
    if irreversible == "label is a word":
        expected = {"verdict": "needs_review"}
    elif irreversible is not None and inv.hub_name is not None:
        # The hub link is hidden too: the name comes from the welcome text, if it has one.
        expected["add_client_link"] = None
        expected["company_name"] = company if welcome_kind != "company deleted" else None
    return Composed(
        raw,
        {
            "language": lang,
            "era": era,
            "tenant": tenant,
            "environment": environment,
            "welcome": welcome_kind,
            "gateways": [name for name, _ in wraps],
            "forward": forward,
            "layout": layout,
            "charset": charset,
            "cte": cte,
            "line break": line_break,
            "irreversible": irreversible,
            "visible text rewritten": text_rewritten,
        },
        expected,
    )


# --- the other side: lies and look-alikes ---------------------------------------------------------

_HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "c": "с", "i": "і"}  # Cyrillic look-alikes


@st.composite
def lookalike_hosts(draw: st.DrawFn) -> str:
    """A host that imitates ``businesscentral.dynamics.com`` without being it."""
    real = "businesscentral.dynamics.com"
    kind = draw(st.sampled_from(["suffix", "swap", "hyphen", "tld", "homoglyph", "prefix"]))
    if kind == "suffix":
        return f"{real}.{draw(_LABEL)}.example"
    if kind == "swap":
        i = draw(st.sampled_from([i for i, c in enumerate(real) if c in "lio"]))
        return real[:i] + {"l": "1", "i": "l", "o": "0"}[real[i]] + real[i + 1 :]
    if kind == "hyphen":
        return "businesscentral-dynamics.com"
    if kind == "tld":
        return f"businesscentral.dynamics.{draw(st.sampled_from(['co', 'net', 'com.de', 'cm']))}"
    if kind == "homoglyph":
        i = draw(st.sampled_from([i for i, c in enumerate(real) if c in _HOMOGLYPHS]))
        return real[:i] + _HOMOGLYPHS[real[i]] + real[i + 1 :]
    return f"{draw(_LABEL)}-businesscentral.dynamics.com.{draw(_LABEL)}.example"


@st.composite
def lookalikes(draw: st.DrawFn) -> Composed:
    """An invitation whose link 1 is a look-alike, or whose link text and target disagree."""
    tenant = f"{draw(_LABEL)}.onmicrosoft.com"
    genuine = f"{g.BC_HOST}{tenant}?redirectedfromsignup=1"
    kind = draw(st.sampled_from(["look-alike host", "lying link"]))
    admin = g.Person("Oliver", "Oliver Grant", "oliver.grant@client-company.example")
    inv = g.Invite(
        draw(st.sampled_from(LANGUAGES)), tenant, "Aster Quill Ltd", "OLIVER", admin, g.ANNA,
        g.when(2024, 5, 6, 8, 0),
    )  # fmt: skip
    msgid = g.exo_msgid("lookalike-" + draw(st.text(string.ascii_letters, min_size=1, max_size=8)))
    if kind == "look-alike host":
        host = draw(lookalike_hosts())
        fake = f"https://{host}/{tenant}?redirectedfromsignup=1"
        inv = replace(inv, link1=fake)
        raw = g.original(inv, msgid, href_wrap=chain(draw(st.lists(gateway, max_size=2))))
        return Composed(raw, {"kind": kind, "host": host}, {"verdict": "rejected"})
    target_kind = draw(
        st.sampled_from(["look-alike", "other host", "other tenant", "javascript", "data",
                         "http", "redirector"])
    )  # fmt: skip
    evil = f"https://{draw(_LABEL)}.{draw(_LABEL)}.example/{draw(_LABEL)}"
    target = {
        "look-alike": f"https://{draw(lookalike_hosts())}/{tenant}?redirectedfromsignup=1",
        "other host": evil,
        "other tenant": f"{g.BC_HOST}{draw(_LABEL)}x.onmicrosoft.com?redirectedfromsignup=1",
        "javascript": "javascript:window.location='" + evil + "'",
        "data": "data:text/html;base64," + base64.b64encode(b"<script>x</script>").decode(),
        "http": genuine.replace("https://", "http://"),
        "redirector": evil,
    }[target_kind]
    wraps = draw(st.lists(gateway, max_size=2))
    if target.startswith("http"):
        target = chain(wraps)(target)
    shown = draw(st.sampled_from([genuine, genuine.split("?")[0], "Open " + genuine]))
    anchor = f'<a href="{html.escape(target)}">{html.escape(shown)}</a>'
    fragment = inv.fragment().replace(genuine, anchor)
    top = g.exo_top(admin.header(), g.ANNA.header(), inv.subject_line, inv.date, msgid)
    raw = g.message(top, g.leaf("html", fragment))
    axes = {"kind": kind, "target": target_kind, "shown": shown, "gateways": [n for n, _ in wraps]}
    return Composed(raw, axes, {"verdict": "rejected"})
