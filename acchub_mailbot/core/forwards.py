"""Forwards and replies, recognised from the subject and the inline header blocks clients write.

Accountants often receive the invitation second-hand: a colleague or the client forwards it. The
detector must still find it, report who forwarded it and how, and must *not* treat a reply that
quotes an invitation as a new one. Clients mark forwards in locale-specific ways (subject prefixes,
separator lines, localized header labels); the tables below come from the research notes
(crisp-oss/email-forward-parser, mailgun/talon) and are deliberately generous.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Subject prefixes that mean "forwarded", by locale: en, fr, de, es, it, da/no, sv, pl, pt-br.
FORWARD_PREFIXES = frozenset(
    {"fw", "fwd", "tr", "wg", "rv", "i", "vs", "vb", "enc", "pd", "doorst"}
)
#: Subject prefixes that mean "reply": en, de, da/sv/no, nl, it, fr.
REPLY_PREFIXES = frozenset({"re", "aw", "sv", "antw", "r", "rif", "réf", "ref"})

_PREFIX = re.compile(
    r"""^\s*
    (?P<p>fwd?|tr|wg|rv|i|vs|vb|enc|pd|doorst|re|aw|sv|antw|r|rif|r[ée]f)
    \s*(?:\[\d+\]|\(\d+\))?\.?\s*[:：]\s*""",
    re.IGNORECASE | re.VERBOSE,
)
#: Tags gateways put in front of the subject: ``[EXTERNAL]``, ``*EXT*``, ``[SPAM?]``...
_TAG = re.compile(r"^\s*(?:\[[^\]\n]{1,40}\]|\*{1,3}[A-Za-z ]{2,20}\*{1,3}|\(external\))\s*", re.I)


@dataclass(frozen=True)
class SubjectInfo:
    """A subject with its prefixes removed. ``prefixes`` are lower-cased, outermost first."""

    core: str
    prefixes: tuple[str, ...] = ()

    @property
    def forwarded(self) -> bool:
        return any(p in FORWARD_PREFIXES for p in self.prefixes)

    @property
    def replied(self) -> bool:
        return any(p in REPLY_PREFIXES for p in self.prefixes)

    # Older spellings of the same facts, kept for callers written against them.
    @property
    def base(self) -> str:
        return self.core

    @property
    def is_reply(self) -> bool:
        return self.replied

    @property
    def is_forward(self) -> bool:
        return self.forwarded


def split_subject(subject: str) -> SubjectInfo:
    """Strip repeated forward/reply prefixes (``FW: Fwd:TR:``) and gateway tags."""
    rest = " ".join(unicodedata.normalize("NFC", subject).split())
    prefixes: list[str] = []
    for _ in range(20):
        tag = _TAG.match(rest)
        if tag and tag.end() > 0:
            rest = rest[tag.end() :]
            continue
        match = _PREFIX.match(rest)
        if not match:
            break
        prefixes.append(match.group("p").lower())
        rest = rest[match.end() :]
    return SubjectInfo(rest.strip(), tuple(prefixes))


def strip_subject_prefixes(subject: str) -> str:
    """The subject without forward/reply prefixes."""
    return split_subject(subject).core


def is_reply_subject(subject: str) -> bool:
    """True when any prefix in the chain is a reply prefix (``Re:``, ``AW:``, ``SV:``...)."""
    return split_subject(subject).replied


def is_forward_subject(subject: str) -> bool:
    """True when any prefix in the chain is a forward prefix (``FW:``, ``TR:``, ``WG:``...)."""
    return split_subject(subject).forwarded


# --- Inline forward blocks ------------------------------------------------------------------------

#: Header labels by meaning, each mapped to the locale it identifies (None: shared by several).
FROM_LABELS: dict[str, str | None] = {
    "from": "en", "de": None, "von": "de", "van": "nl", "fra": "da", "da": "it", "från": "sv",
    "od": "pl", "lähettäjä": "fi", "expéditeur": "fr", "absender": "de", "remitente": "es",
    "mittente": "it", "afzender": "nl", "avsändare": "sv", "afsender": "da",
}  # fmt: skip
SENT_LABELS: dict[str, str | None] = {
    "sent": "en", "envoyé": "fr", "gesendet": "de", "verzonden": "nl", "enviado": "es",
    "enviada": "pt", "sendt": "da", "inviato": "it", "skickat": "sv", "wysłano": "pl",
    "lähetetty": "fi", "date": None, "datum": None, "fecha": "es", "data": "it", "dato": "da",
    "envoyé le": "fr", "gesendet am": "de",
}  # fmt: skip
SUBJECT_LABELS: dict[str, str | None] = {
    "subject": "en", "objet": "fr", "betreff": "de", "onderwerp": "nl", "asunto": "es",
    "emne": "da", "oggetto": "it", "ämne": "sv", "assunto": "pt", "temat": "pl", "aihe": "fi",
}  # fmt: skip
TO_LABELS = frozenset({"to", "à", "a", "an", "aan", "para", "til", "till", "do", "vastaanottaja"})

OTHER_LABELS = frozenset({"cc", "bcc", "kopie", "copie", "cci", "reply-to", "importance"})
_TABLES = (("from", FROM_LABELS), ("sent", SENT_LABELS), ("subject", SUBJECT_LABELS))

_LABEL_LINE = re.compile(
    r"^\s*\**\s*(?P<label>[^\W\d_][^\W\d_ .'’-]*(?: [^\W\d_]+)?)\s*\**\s*[:：]"
)

#: Separator lines: (regex, style, locale).
_SEPARATORS: tuple[tuple[re.Pattern[str], str, str | None], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), style, locale)
    for pattern, style, locale in (
        (r"^-{8,}\s*Forwarded message\s*-{8,}$", "gmail", None),
        (r"^-{5}\s*Forwarded Message\s*-{5}$", "yahoo-zimbra", "en"),
        (r"^-{7}\s*Forwarded Message\s*-{7}$", "proton-mail", "en"),
        (r"^-{8}\s+(?-i:Original Message)\s+-{8}$", "roundcube", "en"),
        (r"^-{8}\s+(?-i:Original message)\s+-{8}$", "android", "en"),
        (r"^-{4,}\s*Original Message\s*-{4,}$", "outlook-desktop", "en"),
        (r"^-{4,}\s*Ursprüngliche Nachricht\s*-{4,}$", "outlook-desktop", "de"),
        (r"^-{4,}\s*Message d'origine\s*-{4,}$", "outlook-desktop", "fr"),
        (r"^-{4,}\s*Oorspronkelijk bericht\s*-{4,}$", "outlook-desktop", "nl"),
        (r"^-{4,}\s*Mensaje original\s*-{4,}$", "outlook-desktop", "es"),
        (r"^-{4,}\s*Oprindelig meddelelse\s*-{4,}$", "outlook-desktop", "da"),
        (r"^-{4,}\s*Messaggio originale\s*-{4,}$", "outlook-desktop", "it"),
        (r"^-{4,}\s*Originalmeddelande\s*-{4,}$", "outlook-desktop", "sv"),
        (r"^-{4,}\s*Opprinnelig melding\s*-{4,}$", "outlook-desktop", "nb"),
        (r"^-{4,}\s*Forwarded Message\s*-{4,}$", "thunderbird", "en"),
        (r"^-{4,}\s*Weitergeleitete Nachricht\s*-{4,}$", "thunderbird", "de"),
        (r"^-{4,}\s*Message transféré\s*-{4,}$", "thunderbird", "fr"),
        (r"^-{4,}\s*Doorgestuurd bericht\s*-{4,}$", "thunderbird", "nl"),
        (r"^-{4,}\s*Mensaje reenviado\s*-{4,}$", "thunderbird", "es"),
        (r"^-{4,}\s*Videresendt (?:meddelelse|besked)\s*-{4,}$", "thunderbird", "da"),
        (r"^-{4,}\s*Messaggio inoltrato\s*-{4,}$", "thunderbird", "it"),
        (r"^-{4,}\s*Vidarebefordrat meddelande\s*-{4,}$", "thunderbird", "sv"),
        (r"^_{32}$", "outlook-web", None),
        (r"^Begin forwarded message\s*:$", "apple-mail", "en"),
        (r"^Début du message (?:réexpédié|transféré)\s*:$", "apple-mail", "fr"),
        (r"^Anfang der weitergeleiteten Nachricht\s*:$", "apple-mail", "de"),
        (r"^Inicio del mensaje reenviado\s*:$", "apple-mail", "es"),
        (r"^Begin doorgestuurd bericht\s*:$", "apple-mail", "nl"),
        (r"^Start på videresendt besked\s*:$", "apple-mail", "da"),
        (r"^Inizio messaggio inoltrato\s*:$", "apple-mail", "it"),
        (r"^Början av vidarebefordrat meddelande\s*:$", "apple-mail", "sv"),
        (
            r"^(?:On|Am|Le|Op|El|Il|Den)\s.{4,200}\s"
            r"(?:wrote|schrieb|a écrit|schreef|escribió|ha scritto|skrev)\s*:$",
            "attribution",
            None,
        ),
    )
)  # fmt: skip

#: HTML structures that identify the client, for when the text alone is ambiguous.
_HTML_MARKERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"divRplyFwdMsg", re.I), "outlook-web"),
    (re.compile(r"OLK_SRC_BODY_SECTION"), "outlook-mac"),
    (re.compile(r"border-top:\s*solid\s*#(?:E1E1E1|B5C4DF)", re.I), "outlook-desktop"),
    (re.compile(r"class=\"?gmail_(?:quote|attr)", re.I), "gmail"),
    (re.compile(r"<blockquote[^>]*type=\"?cite", re.I), "apple-mail"),
    (re.compile(r"yahoo_quoted", re.I), "yahoo"),
    (re.compile(r"__QUOTED_TEXT__"), "zimbra"),
    (re.compile(r"protonmail_quote", re.I), "proton-mail"),
)
#: Client marks that name the writer more precisely than the separator line they share with
#: another client (Outlook for Mac's bold block looks like Outlook desktop's).
_HTML_OVERRIDES = frozenset({"outlook-mac", "yahoo", "zimbra", "proton-mail"})
_OUTLOOK_MOBILE = re.compile(r"^Get Outlook for (?:iOS|Android)\b", re.I | re.M)


@dataclass(frozen=True)
class ForwardInfo:
    """An inline forward found in a body.

    ``style`` names the client convention of the outermost block (``outlook-desktop``,
    ``outlook-web``, ``outlook-mobile``, ``gmail``, ``apple-mail``, ``thunderbird``,
    ``outlook-mac``, ``yahoo``, ``zimbra``, ``proton-mail``, ``roundcube``, ``android``,
    ``quoted``...);
    ``original_from``/``original_subject`` come from the innermost block; ``count`` is the number
    of header blocks (2 for a forward of a forward); ``quoted`` means ``>`` quoting was seen.
    """

    style: str
    locale: str | None = None
    original_from: str | None = None
    original_subject: str | None = None
    count: int = 1
    quoted: bool = False

    @property
    def label(self) -> str:
        """``outlook-desktop (fr)``: the form used in decision reasons."""
        return f"{self.style} ({self.locale})" if self.locale else self.style


@dataclass(frozen=True)
class _Block:
    style: str
    locale: str | None
    original_from: str | None
    original_subject: str | None
    line: int


def _unquote_line(line: str) -> tuple[int, str]:
    depth = 0
    rest = line.lstrip()
    while rest.startswith(">"):
        depth += 1
        rest = rest[1:].lstrip(" ")
    return depth, rest.strip()


def _label(line: str) -> tuple[str, str] | None:
    match = _LABEL_LINE.match(line)
    if not match:
        return None
    value = line[match.end() :].strip().strip("*").strip()
    return match.group("label").strip().lower(), value


def _header_block(lines: list[str], start: int) -> tuple[dict[str, str], dict[str, str], int]:
    """Read ``Label: value`` lines from ``start``: the fields, the label each field was found
    under, and the number of lines consumed."""
    fields: dict[str, str] = {}
    labels: dict[str, str] = {}
    i = start
    blank_run = 0
    while i < len(lines) and i - start < 14:
        line = lines[i]
        if not line:
            blank_run += 1
            if fields and blank_run > 1:
                break
            i += 1
            continue
        blank_run = 0
        parsed = _label(line)
        if parsed is None:
            if fields:
                break
            i += 1
            continue
        label, value = parsed
        known = False
        for kind, table in _TABLES:
            if label in table:
                known = True
                if kind not in fields:
                    fields[kind] = value
                    labels[kind] = label
        if label in TO_LABELS:
            fields.setdefault("to", value)
        elif not known and not fields and label not in OTHER_LABELS:
            break
        i += 1
    return fields, labels, i - start


def _locale(labels: dict[str, str], style: str) -> str | None:
    """The subject label is the most specific, then the sent label, then the from label. Gmail
    localizes only the From label (``De :`` in French)."""
    if style == "gmail":
        label = labels.get("from", "")
        return "fr" if label == "de" else FROM_LABELS.get(label) if label != "from" else None
    for kind, table in (("subject", SUBJECT_LABELS), ("sent", SENT_LABELS), ("from", FROM_LABELS)):
        locale = table.get(labels.get(kind, ""))
        if locale:
            return locale
    return None


def _blocks(lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        matched = next((s for s in _SEPARATORS if s[0].match(line)), None)
        if matched is not None:
            fields, labels, used = _header_block(lines, i + 1)
            if "from" in fields or matched[1] != "outlook-web":
                blocks.append(
                    _Block(
                        matched[1],
                        matched[2] or _locale(labels, matched[1]),
                        fields.get("from"),
                        fields.get("subject"),
                        i,
                    )
                )
            i += 1 + used
            continue
        parsed = _label(line)
        if parsed and parsed[0] in FROM_LABELS:
            fields, labels, used = _header_block(lines, i)
            if "from" in fields and "subject" in fields and ("sent" in fields or "to" in fields):
                locale = _locale(labels, "header-block")
                blocks.append(
                    _Block("header-block", locale, fields.get("from"), fields.get("subject"), i)
                )
                i += max(used, 1)
                continue
        i += 1
    return blocks


def _html_style(html: str) -> str | None:
    for pattern, style in _HTML_MARKERS:
        if pattern.search(html):
            return style
    return None


def detect_forward(text: str, html: str = "") -> ForwardInfo | None:
    """The inline forward in a body (``text`` is the visible text, ``html`` the markup if any)."""
    raw_lines = text.splitlines()
    unquoted = [_unquote_line(line) for line in raw_lines]
    lines = [content for _depth, content in unquoted]
    quoted_lines = sum(1 for depth, content in unquoted if depth and content)
    blocks = _blocks(lines)
    html_style = _html_style(html) if html else None
    if not blocks:
        if quoted_lines >= 2:
            return ForwardInfo("quoted", quoted=True)
        if html_style and html_style != "apple-mail":
            return ForwardInfo(html_style)
        return None
    outer, inner = blocks[0], blocks[-1]
    style = outer.style
    if style == "header-block":
        # A bare From/Sent/Subject block: the HTML tells which client wrote it.
        style = html_style or "outlook-desktop"
    elif style == "outlook-web" and html_style == "outlook-desktop":
        style = "outlook-desktop"
    elif style == "attribution":
        style = "outlook-mac" if html_style == "outlook-mac" else "reply-attribution"
    elif html_style in _HTML_OVERRIDES:
        style = html_style
    if style == "outlook-web" and _OUTLOOK_MOBILE.search(text):
        style = "outlook-mobile"
    if style == "yahoo-zimbra":
        style = "yahoo"  # the same separator; without HTML marks the older of the two
    return ForwardInfo(
        style=style,
        locale=outer.locale,
        original_from=inner.original_from,
        original_subject=inner.original_subject,
        count=len(blocks),
        quoted=quoted_lines >= 2,
    )


__all__ = [
    "FORWARD_PREFIXES",
    "REPLY_PREFIXES",
    "ForwardInfo",
    "SubjectInfo",
    "detect_forward",
    "is_forward_subject",
    "is_reply_subject",
    "split_subject",
    "strip_subject_prefixes",
]
