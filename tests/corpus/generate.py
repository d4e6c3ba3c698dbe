"""Generate the labelled corpus of test emails (``*.eml``) and its ``manifest.yaml``.

Usage::

    python tests/corpus/generate.py

The output is deterministic: running the script again rewrites byte-identical files. The
emails follow the facts collected in ``docs/invitation-emails.md`` (the research notes on the
Business Central "Invite External Accountant" email): an HTML fragment without ``<html>`` or
``<body>``, ``</br>`` line breaks, an editable welcome text, then the fixed part with link 1 as
plain text and, in the Accountant Hub era, the "add client" link whose href keeps raw spaces and
single quotes. Forwards, gateway rewriting (Safe Links, Proofpoint, Mimecast), negatives and
look-alikes are built on top of that. Only the standard library is used.

Every company, person and address is fictional (``*.example`` domains, ``onmicrosoft.com``
tenants of invented names).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import quopri
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.header import Header, decode_header, make_header
from email.utils import format_datetime, formataddr
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
CRLF = "\r\n"

BC_HOST = "https://businesscentral.dynamics.com/"
HUB_BASE = "https://accountants.dynamics.com"
MARKETING = "https://dynamics.microsoft.com/en-us/business-central/accountants"
PRODUCT = "Dynamics 365 Business Central"
PRODUCT_FIN = "Dynamics 365 for Financials"

# ---------------------------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------------------------


def dotnet_urlencode(value: str) -> str:
    """``HttpUtility.UrlEncode``: lower-case hex, space -> ``+``, ``-_.!*()`` kept."""
    out = []
    for byte in value.encode("utf-8"):
        char = chr(byte)
        if char.isascii() and (char.isalnum() or char in "-_.!*()"):
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02x}")
    return "".join(out)


def hub_href(client_link: str, display_name: str, base: str = HUB_BASE) -> str:
    """The Accountant Hub link exactly as page 9033 wrote it (raw spaces and quotes)."""
    return (
        f"{base}/?page=21&mode=Edit&filter=Customer.'Client Link' IS "
        f"'''{dotnet_urlencode(client_link)}''' AND Customer.Name IS "
        f"'''{dotnet_urlencode(display_name)}'''"
    )


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("|".join(parts).encode("utf-8")).digest()


def _hex(seed: str, n: int, upper: bool = True) -> str:
    text = hashlib.sha256(seed.encode("utf-8")).hexdigest()
    while len(text) < n:
        text += hashlib.sha256(text.encode("ascii")).hexdigest()
    return text[:n].upper() if upper else text[:n]


def _guid(seed: str) -> str:
    h = _hex(seed, 32, upper=False)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _b64token(seed: str, n: int) -> str:
    raw = base64.urlsafe_b64encode(_digest(seed) + _digest(seed, "2")).decode("ascii")
    return raw.replace("=", "")[:n]


# --- Microsoft Defender Safe Links -----------------------------------------------------------

SAFELINKS_CLIENT = base64.b64encode(
    b'Mailflow|{"V":"0.0.0000","P":"Win32","AN":"Mail","WT":2}'
).decode("ascii")


def safelinks(url: str, region: str = "eur02", recipient: str = "anna.berg@brightledger.example"):
    seed = f"sl|{region}|{url}"
    ticks = 638000000000000000 + int(_hex(seed, 12), 16) % 10**15
    data = "|".join(
        [
            "05",
            "02",
            recipient,
            _guid(seed + "m"),
            _guid("recipient-tenant|" + recipient),
            "0",
            "0",
            str(ticks),
            "Unknown",
            SAFELINKS_CLIENT,
            "0",
            "",
            "",
            "",
        ]
    )
    sdata = base64.b64encode(_digest(seed, "sdata")).decode("ascii")
    return (
        f"https://{region}.safelinks.protection.outlook.com/?url={quote(url, safe='')}"
        f"&data={quote(data, safe='')}&sdata={quote(sdata, safe='')}&reserved=0"
    )


# --- Proofpoint URL Defense -------------------------------------------------------------------


def proofpoint_v1(url: str) -> str:
    seed = "pp1|" + url
    return (
        f"https://urldefense.proofpoint.com/v1/url?u={quote(url, safe='')}"
        f"&k={_b64token(seed + 'k', 22)}%3D%3D%0A&r={_b64token(seed + 'r', 43)}%3D%0A"
        f"&m={_b64token(seed + 'm', 43)}%3D%0A&s={_hex(seed + 's', 64, upper=False)}"
    )


def proofpoint_v2(url: str) -> str:
    encoded = []
    for byte in url.encode("utf-8"):
        char = chr(byte)
        if char.isascii() and (char.isalnum() or char in "./"):
            encoded.append(char)
        else:
            encoded.append(f"%{byte:02X}")
    u = "".join(encoded).replace("%", "-").replace("/", "_")
    seed = "pp2|" + url
    return (
        f"https://urldefense.proofpoint.com/v2/url?u={u}&d=DwMFaQ&c={_b64token(seed + 'c', 22)}"
        f"&r={_b64token(seed + 'r', 43)}&m={_b64token(seed + 'm', 43)}"
        f"&s={_b64token(seed + 's', 43)}&e="
    )


V3_RUN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def proofpoint_v3(url: str, substitute: str = "%") -> str:
    """v3: characters in ``substitute`` become ``*`` (runs of 2+ become ``**X``), the replaced
    characters go, in order, into the base64url part after ``__;``. Spaces and non-ASCII are
    percent-encoded in the URL part (which the decoder percent-decodes first). A literal ``*``
    is always moved to the tail, since in the URL part every ``*`` is a placeholder (this is
    what lets a v3 link be wrapped by v3 again)."""
    substitute += "*"
    out: list[str] = []
    replaced: list[str] = []
    i = 0
    while i < len(url):
        if url[i] in substitute:
            j = i
            while j < len(url) and url[j] in substitute and j - i < len(V3_RUN_ALPHABET) + 1:
                j += 1
            run = url[i:j]
            replaced.append(run)
            out.append("*" if len(run) == 1 else "**" + V3_RUN_ALPHABET[len(run) - 2])
            i = j
            continue
        char = url[i]
        if char == " " or not char.isascii():
            out.append(quote(char, safe=""))
        else:
            out.append(char)
        i += 1
    b64 = base64.urlsafe_b64encode("".join(replaced).encode("utf-8")).decode("ascii")
    seed = "pp3|" + url
    return (
        f"https://urldefense.com/v3/__{''.join(out)}__;{b64.rstrip('=')}"
        f"!!{_b64token(seed + 't', 12)}!{_b64token(seed + 's', 58)}$"
    )


# --- Mimecast URL Protect ---------------------------------------------------------------------


def mimecast(url: str, region: str = "eu", with_domain: bool = True) -> str:
    host = url.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0]
    token = _b64token("mc|" + url, 21)
    return f"https://protect-{region}.mimecast.com/s/{token}" + (
        f"?domain={host}" if with_domain else ""
    )


# ---------------------------------------------------------------------------------------------
# Labels (our own translations of the page 9033 labels)
# ---------------------------------------------------------------------------------------------

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "You have been invited to {p}",
        "greeting": "Hello {n},",
        "body": "Please accept this invitation to get access to my {p}.",
        "closing": "Best Regards,",
        "open": "Open the following link to verify that you can log in.",
        "hub": 'To add my company to your Accountant Hub, click <a href="{h}">here</a>.',
        "notusing": 'Not using the Accountant Hub?  Click <a href="{m}">here</a> to learn more.',
    },
    "fr": {
        "subject": "Vous avez été invité à {p}",
        "greeting": "Bonjour {n},",
        "body": "Veuillez accepter cette invitation pour accéder à mon {p}.",
        "closing": "Cordialement,",
        "open": "Ouvrez le lien suivant pour vérifier que vous pouvez vous connecter.",
        "hub": 'Pour ajouter ma société à votre Accountant Hub, cliquez <a href="{h}">ici</a>.',
        "notusing": 'Vous n\'utilisez pas Accountant Hub ?  Cliquez <a href="{m}">ici</a> pour '
        "en savoir plus.",
    },
    "de": {
        "subject": "Sie wurden zu {p} eingeladen",
        "greeting": "Hallo {n},",
        "body": "Bitte nehmen Sie diese Einladung an, um Zugriff auf mein {p} zu erhalten.",
        "closing": "Mit freundlichen Grüßen",
        "open": "Öffnen Sie den folgenden Link, um zu überprüfen, ob Sie sich anmelden können.",
        "hub": "Um mein Unternehmen zu Ihrem Accountant Hub hinzuzufügen, klicken Sie "
        '<a href="{h}">hier</a>.',
        "notusing": 'Sie verwenden Accountant Hub nicht?  Klicken Sie <a href="{m}">hier</a>, '
        "um mehr zu erfahren.",
    },
    "nl": {
        "subject": "U bent uitgenodigd voor {p}",
        "greeting": "Hallo {n},",
        "body": "Accepteer deze uitnodiging om toegang te krijgen tot mijn {p}.",
        "closing": "Met vriendelijke groet,",
        "open": "Open de volgende koppeling om te controleren of u zich kunt aanmelden.",
        "hub": 'Klik <a href="{h}">hier</a> om mijn bedrijf toe te voegen aan uw Accountant Hub.',
        "notusing": 'Gebruikt u Accountant Hub niet?  Klik <a href="{m}">hier</a> voor meer '
        "informatie.",
    },
    "es": {
        "subject": "Se le ha invitado a {p}",
        "greeting": "Hola {n}:",
        "body": "Acepte esta invitación para obtener acceso a mi {p}.",
        "closing": "Saludos cordiales,",
        "open": "Abra el siguiente vínculo para comprobar que puede iniciar sesión.",
        "hub": 'Para agregar mi empresa a su Accountant Hub, haga clic <a href="{h}">aquí</a>.',
        "notusing": '¿No usa Accountant Hub?  Haga clic <a href="{m}">aquí</a> para obtener '
        "más información.",
    },
    "da": {
        "subject": "Du er blevet inviteret til {p}",
        "greeting": "Hej {n}",
        "body": "Accepter denne invitation for at få adgang til mit {p}.",
        "closing": "Med venlig hilsen",
        "open": "Åbn følgende link for at bekræfte, at du kan logge på.",
        "hub": 'Klik <a href="{h}">her</a> for at føje min virksomhed til din Accountant Hub.',
        "notusing": 'Bruger du ikke Accountant Hub?  Klik <a href="{m}">her</a> for at få '
        "mere at vide.",
    },
    "it": {
        "subject": "Sei stato invitato a {p}",
        "greeting": "Ciao {n},",
        "body": "Accetta questo invito per ottenere l'accesso al mio {p}.",
        "closing": "Cordiali saluti,",
        "open": "Apri il collegamento seguente per verificare che sia possibile accedere.",
        "hub": 'Per aggiungere la mia società al tuo Accountant Hub, fai clic <a href="{h}">'
        "qui</a>.",
        "notusing": 'Non usi Accountant Hub?  Fai clic <a href="{m}">qui</a> per ulteriori '
        "informazioni.",
    },
    "sv": {
        "subject": "Du har bjudits in till {p}",
        "greeting": "Hej {n}!",
        "body": "Acceptera den här inbjudan för att få åtkomst till mitt {p}.",
        "closing": "Med vänliga hälsningar",
        "open": "Öppna följande länk för att kontrollera att du kan logga in.",
        "hub": 'Klicka <a href="{h}">här</a> om du vill lägga till mitt företag i din '
        "Accountant Hub.",
        "notusing": 'Använder du inte Accountant Hub?  Klicka <a href="{m}">här</a> om du '
        "vill veta mer.",
    },
    "nb": {
        "subject": "Du har blitt invitert til {p}",
        "greeting": "Hei {n},",
        "body": "Godta denne invitasjonen for å få tilgang til mitt {p}.",
        "closing": "Med vennlig hilsen",
        "open": "Åpne følgende kobling for å kontrollere at du kan logge på.",
        "hub": 'Klikk <a href="{h}">her</a> for å legge til firmaet mitt i Accountant Hub.',
        "notusing": 'Bruker du ikke Accountant Hub?  Klikk <a href="{m}">her</a> for å lære mer.',
    },
    "fi": {
        "subject": "Sinut on kutsuttu palveluun {p}",
        "greeting": "Hei {n},",
        "body": "Hyväksy tämä kutsu, niin saat käyttöoikeuden {p} -ympäristööni.",
        "closing": "Ystävällisin terveisin",
        "open": "Avaa seuraava linkki ja varmista, että voit kirjautua sisään.",
        "hub": 'Lisää yritykseni Accountant Hubiin napsauttamalla <a href="{h}">tätä</a>.',
        "notusing": "Etkö käytä Accountant Hubia?  Lisätietoja saat napsauttamalla "
        '<a href="{m}">tätä</a>.',
    },
}

# ---------------------------------------------------------------------------------------------
# People and firms
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    first: str
    name: str
    addr: str

    def header(self, with_name: bool = True) -> str:
        return _addr_header(self.name if with_name else "", self.addr)


def _display(value: str) -> str:
    """A header value as a mail client shows it in a forward block (RFC 2047 decoded)."""
    return str(make_header(decode_header(value)))


def _addr_header(name: str, addr: str) -> str:
    if not name:
        return addr
    return formataddr((name, addr), charset="utf-8")


ANNA = Person("Anna", "Anna Berg", "anna.berg@brightledger.example")
CLAIRE = Person("Claire", "Claire Martin", "claire.martin@cabinet-martin.example")
JONAS = Person("Jonas", "Jonas Schneider", "j.schneider@kanzlei-schneider.example")
SANNE = Person("Sanne", "Sanne de Vries", "sanne@devries-accountants.example")
LUCIA = Person("Lucía", "Lucía Romero", "lromero@asesoria-romero.example")
METTE = Person("Mette", "Mette Holm", "mette@holm-revision.example")
GIULIA = Person("Giulia", "Giulia Ferri", "g.ferri@studioferri.example")
ERIK = Person("Erik", "Erik Lindqvist", "erik.lindqvist@lindqvist-redovisning.example")
INGRID = Person("Ingrid", "Ingrid Dahl", "ingrid@dahl-regnskap.example")
AINO = Person("Aino", "Aino Virtanen", "aino.virtanen@tilitoimisto-virtanen.example")
TOM = Person("Tom", "Tom Walsh", "tom@walshpartners.example")
BEATRIZ = Person("Beatriz", "Beatriz Costa", "beatriz@costa-contabil.example")

ACCOUNTANT_FOR_LANG = {
    "en": ANNA,
    "fr": CLAIRE,
    "de": JONAS,
    "nl": SANNE,
    "es": LUCIA,
    "da": METTE,
    "it": GIULIA,
    "sv": ERIK,
    "nb": INGRID,
    "fi": AINO,
}

# ---------------------------------------------------------------------------------------------
# The Business Central invitation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invite:
    lang: str
    tenant: str  # path segment of link 1 as written (initial domain or GUID)
    company: str  # Company."Display Name" (last line of the welcome text)
    user: str  # User."User Name" of the inviting user
    sender: Person
    to: Person
    date: datetime
    hub_name: str | None = None  # Entra tenant display name; set = Accountant Hub era
    product: str = PRODUCT
    welcome: str | None = None  # the admin's own welcome text (LF separated)
    link1: str | None = None  # override link 1 (legacy / look-alikes)
    hub_client_link: str | None = None  # override the Client Link inside the hub filter
    subject: str | None = None

    @property
    def access_link(self) -> str:
        if self.link1 is not None:
            return self.link1
        return f"{BC_HOST}{self.tenant}?redirectedfromsignup=1"

    @property
    def add_client_link(self) -> str | None:
        if self.hub_name is None:
            return None
        client = self.hub_client_link if self.hub_client_link is not None else self.access_link
        return hub_href(client, self.hub_name)

    @property
    def labels(self) -> dict[str, str]:
        return LABELS[self.lang]

    @property
    def subject_line(self) -> str:
        if self.subject is not None:
            return self.subject
        return self.labels["subject"].format(p=self.product)

    @property
    def welcome_text(self) -> str:
        if self.welcome is not None:
            return self.welcome
        lab = self.labels
        return "\n".join(
            [
                lab["greeting"].format(n=self.to.first),
                "",
                lab["body"].format(p=self.product),
                "",
                lab["closing"],
                self.user,
                self.company,
            ]
        )

    @property
    def expected_company(self) -> str:
        if self.hub_name is not None:
            return self.hub_name
        return self.welcome_text.rstrip("\n").split("\n")[-1].strip()

    def fragment(self, href_wrap=None) -> str:
        """The HTML body exactly as page 9033 builds it; ``href_wrap`` rewrites anchor hrefs
        the way a gateway does (the result is HTML-escaped, plain-text link 1 untouched)."""
        lab = self.labels
        body = self.welcome_text.replace("\n", "</br>")
        body += "</br></br>" + lab["open"] + "</br>" + self.access_link + "</br>" + "</br></br>"
        if self.hub_name is not None:
            hub = self.add_client_link
            mkt = MARKETING
            if href_wrap is not None:
                hub = html.escape(href_wrap(hub), quote=True)
                mkt = html.escape(href_wrap(mkt), quote=True)
            body += lab["hub"].format(h=hub) + "</br></br></br>"
            body += lab["notusing"].format(m=mkt) + "</br>"
        return body

    def lines(self) -> list[list[tuple[str, ...]]]:
        """The body as display lines of tokens: ("t", text), ("u", bare url), ("a", href, text)."""
        out: list[list[tuple[str, ...]]] = []
        for raw_line in self.fragment().split("</br>"):
            tokens: list[tuple[str, ...]] = []
            if raw_line == self.access_link:
                tokens.append(("u", raw_line))
            else:
                rest = raw_line
                while '<a href="' in rest:
                    before, after = rest.split('<a href="', 1)
                    href, after = after.split('">', 1)
                    text, rest = after.split("</a>", 1)
                    if before:
                        tokens.append(("t", before))
                    tokens.append(("a", href, text))
                if rest:
                    tokens.append(("t", rest))
            out.append(tokens)
        while out and not out[-1]:
            out.pop()
        return out


def render_html_lines(
    lines, autolink: bool = False, wrap=None, text_wrap=None, hide_link1: str | None = None
) -> str:
    """Lines as a mail client re-renders them in a forward (``<br>``, escaped text)."""
    wrap = wrap or (lambda u: u)
    text_wrap = text_wrap or (lambda u: u)
    out = []
    for tokens in lines:
        parts = []
        for tok in tokens:
            if tok[0] == "t":
                parts.append(html.escape(tok[1], quote=False))
            elif tok[0] == "u":
                if hide_link1 is not None:
                    parts.append(f'<a href="{html.escape(wrap(tok[1]))}">{hide_link1}</a>')
                elif autolink:
                    parts.append(
                        f'<a href="{html.escape(wrap(tok[1]))}">'
                        f"{html.escape(text_wrap(tok[1]), quote=False)}</a>"
                    )
                else:
                    parts.append(html.escape(text_wrap(tok[1]), quote=False))
            else:
                parts.append(f'<a href="{html.escape(wrap(tok[1]))}">{html.escape(tok[2])}</a>')
        out.append("".join(parts))
    return "<br>\n".join(out) + "<br>"


def render_text_lines(lines, wrap=None, style: str = "outlook") -> list[str]:
    """Lines as a plain-text part: Exchange writes ``here<URL>``, Apple/Gmail ``here <URL>``."""
    wrap = wrap or (lambda u: u)
    out = []
    for tokens in lines:
        parts = []
        for tok in tokens:
            if tok[0] == "t":
                parts.append(tok[1])
            elif tok[0] == "u":
                parts.append(wrap(tok[1]))
            else:
                sep = "" if style == "outlook" else " "
                parts.append(f"{tok[2]}{sep}<{wrap(tok[1])}>")
        out.append("".join(parts))
    return out


# ---------------------------------------------------------------------------------------------
# MIME assembly (by hand, so that every byte is under control)
# ---------------------------------------------------------------------------------------------


@dataclass
class Part:
    headers: list[tuple[str, str]]
    body: bytes = b""
    children: list[Part] = field(default_factory=list)
    boundary: str | None = None
    preamble: str = ""


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def leaf(
    subtype: str,
    text: str,
    charset: str | None = "utf-8",
    cte: str = "quoted-printable",
    encode_as: str | None = None,
    main: str = "text",
    extra: list[tuple[str, str]] | None = None,
    ctype_params: str = "",
) -> Part:
    data = text.replace("\r\n", "\n").encode(encode_as or charset or "ascii")
    if cte == "quoted-printable":
        body = _crlf(quopri.encodestring(data))
    elif cte == "base64":
        body = _crlf(base64.encodebytes(_crlf(data)))
    elif cte in ("7bit", "8bit"):
        body = _crlf(data)
        if cte == "7bit" and not body.isascii():
            raise ValueError("7bit body is not ASCII")
        if any(len(line) > 998 for line in body.split(b"\r\n")):
            raise ValueError("line longer than 998 octets")
    else:
        raise ValueError(cte)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    ctype = f"{main}/{subtype}"
    if charset:
        ctype += f'; charset="{charset}"'
    ctype += ctype_params
    headers = [("Content-Type", ctype), ("Content-Transfer-Encoding", cte)]
    headers += extra or []
    return Part(headers, body)


def multipart(subtype: str, children: list[Part], boundary: str, params: str = "", **kw) -> Part:
    ctype = f'multipart/{subtype}; boundary="{boundary}"{params}'
    return Part([("Content-Type", ctype)], children=children, boundary=boundary, **kw)


def rfc822(raw: bytes, filename: str | None = None, disposition: str = "attachment") -> Part:
    headers = [("Content-Type", "message/rfc822")]
    if filename:
        headers.append(("Content-Disposition", f'{disposition}; filename="{filename}"'))
    else:
        headers.append(("Content-Disposition", disposition))
    headers.append(("Content-Transfer-Encoding", "8bit" if not raw.isascii() else "7bit"))
    return Part(headers, raw if raw.endswith(b"\r\n") else raw + b"\r\n")


def serialize(part: Part) -> bytes:
    head = "".join(f"{name}: {value}{CRLF}" for name, value in part.headers).encode("utf-8")
    if part.boundary is None:
        return head + b"\r\n" + part.body
    chunks = [head, b"\r\n"]
    if part.preamble:
        chunks.append(part.preamble.encode("ascii") + b"\r\n")
    for child in part.children:
        chunks.append(f"--{part.boundary}\r\n".encode("ascii"))
        data = serialize(child)
        chunks.append(data if data.endswith(b"\r\n") else data + b"\r\n")
    chunks.append(f"--{part.boundary}--\r\n".encode("ascii"))
    return b"".join(chunks)


def encode_subject(subject: str) -> str:
    if subject.isascii():
        return subject
    return Header(subject, "utf-8", maxlinelen=76).encode(linesep=CRLF)


def message(
    top: list[tuple[str, str]],
    root: Part,
    trailer: list[tuple[str, str]] | None = None,
) -> bytes:
    """A complete message: transport/identity headers, then the root part's content headers."""
    root = replace(root, headers=[*top, ("MIME-Version", "1.0"), *root.headers, *(trailer or [])])
    return serialize(root)


# --- identities -------------------------------------------------------------------------------

EXO_REGIONS = ["eurprd02", "eurprd04", "namprd12", "gbrp265", "apcprd06", "eurprd07"]


def exo_server(seed: str) -> tuple[str, str]:
    prefixes = ["AM9PR02MB", "DB8PR04MB", "BL1PR12MB", "LO2P265MB", "SG2PR06MB", "PA4PR07MB"]
    idx = int(_hex(seed, 4), 16) % len(prefixes)
    number = 1000 + int(_hex(seed + "n", 6), 16) % 9000
    return f"{prefixes[idx]}{number}", EXO_REGIONS[idx]


def exo_msgid(seed: str) -> str:
    server, region = exo_server(seed)
    return f"<{server}{_hex(seed + 'id', 24)}@{server}.{region}.prod.outlook.com>"


def gmail_msgid(seed: str) -> str:
    token = base64.b64encode(_digest(seed, "gm")).decode("ascii")[:40]
    token = token.replace("/", "_").replace("+", "-")
    return f"<CA{token}@mail.gmail.com>"


def apple_msgid(seed: str, domain: str) -> str:
    return f"<{_guid(seed).upper()}@{domain}>"


def smtp_msgid(seed: str, domain: str) -> str:
    return f"<{_hex(seed, 16, upper=False)}.{_hex(seed + 'x', 8, upper=False)}@{domain}>"


def exo_top(
    frm: str,
    to: str,
    subject: str,
    date: datetime,
    msgid: str,
    lang_tag: str = "en-US",
    extra: list[tuple[str, str]] | None = None,
    cc: str | None = None,
) -> list[tuple[str, str]]:
    server, region = exo_server(msgid)
    received = (
        f"from {server}.{region}.prod.outlook.com ({_ipv6(msgid)}) by\r\n"
        f" {server}.{region}.prod.outlook.com ({_ipv6(msgid)}) with mapi id\r\n"
        f" 15.20.7472.021; {format_datetime(date)}"
    )
    headers = [
        ("Received", received),
        ("From", frm),
        ("To", to),
    ]
    if cc:
        headers.append(("CC", cc))
    headers += [
        ("Subject", encode_subject(subject)),
        ("Thread-Topic", encode_subject(_topic(subject))),
        ("Thread-Index", base64.b64encode(_digest(msgid, "ti")[:22]).decode("ascii")),
        ("Date", format_datetime(date)),
        ("Message-ID", msgid),
    ]
    headers += extra or []
    headers += [
        ("Accept-Language", f"{lang_tag}, en-US"),
        ("Content-Language", lang_tag),
        ("X-MS-Has-Attach", ""),
        ("X-MS-TNEF-Correlator", ""),
    ]
    return headers


def _topic(subject: str) -> str:
    prefixes = ("FW:", "Fw:", "Fwd:", "TR:", "WG:", "RV:", "I:", "VS:", "VB:", "ENC:", "RE:")
    prefixes += ("Re:", "AW:", "SV:")
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if subject.startswith(prefix + " "):
                subject = subject[len(prefix) + 1 :]
                changed = True
    return subject


def _ipv4(seed: str) -> str:
    h = _digest(seed, "ip4")
    return f"198.51.100.{1 + h[0] % 250}"


def _ipv6(seed: str) -> str:
    h = _hex(seed, 16, upper=False)
    return f"2603:10a6:20b:{h[:4]}::{h[4:6]}"


def simple_top(
    frm: str,
    to: str,
    subject: str,
    date: datetime,
    msgid: str,
    extra: list[tuple[str, str]] | None = None,
    mailer: str | None = None,
) -> list[tuple[str, str]]:
    headers = [
        ("From", frm),
        ("To", to),
        ("Subject", encode_subject(subject)),
        ("Date", format_datetime(date)),
        ("Message-ID", msgid),
    ]
    if mailer:
        headers.append(("X-Mailer", mailer))
    return headers + (extra or [])


def when(y: int, mo: int, d: int, h: int = 9, mi: int = 12, s: int = 44, off: int = 0):
    return datetime(y, mo, d, h, mi, s, tzinfo=timezone(timedelta(hours=off)))


# ---------------------------------------------------------------------------------------------
# Originals as Business Central sends them
# ---------------------------------------------------------------------------------------------


def original(
    inv: Invite,
    msgid: str,
    *,
    style: str = "exo",  # "exo": current Email module via Exchange Online; "smtp": SMTP era
    mime: str = "html",  # "html" or "alternative"
    charset: str | None = "utf-8",
    cte: str = "quoted-printable",
    encode_as: str | None = None,
    href_wrap=None,
    text_wrap=None,
    extra: list[tuple[str, str]] | None = None,
    lang_tag: str | None = None,
) -> bytes:
    frag = inv.fragment(href_wrap=href_wrap)
    html_part = leaf("html", frag, charset=charset, cte=cte, encode_as=encode_as)
    if mime == "alternative":
        text = "\n".join(render_text_lines(inv.lines(), wrap=text_wrap)) + "\n"
        text_part = leaf("plain", text, charset=charset, cte=cte, encode_as=encode_as)
        root = multipart("alternative", [text_part, html_part], _boundary(msgid, "alt"))
    else:
        root = html_part
    to = inv.to.header()
    if style == "exo":
        frm = inv.sender.header()
        top = exo_top(frm, to, inv.subject_line, inv.date, msgid, lang_tag or _lang_tag(inv.lang))
    else:
        # SMTP Mail: empty sender name, the address from SMTP setup.
        domain = inv.sender.addr.split("@", 1)[1]
        received = (
            f"from mail.{domain} (mail.{domain} [{_ipv4(msgid)}])\r\n"
            f" by mx.{inv.to.addr.split('@')[1]}"
            f" with ESMTPS id {_hex(msgid, 10)}; {format_datetime(inv.date)}"
        )
        top = [("Received", received), ("Return-Path", f"<{inv.sender.addr}>")]
        top += simple_top(inv.sender.addr, to, inv.subject_line, inv.date, msgid)
    return message(top + (extra or []), root)


#: Languages added by ``generate_shapes.py`` register their tags here.
EXTRA_LANG_TAGS: dict[str, str] = {}


def _lang_tag(lang: str) -> str:
    if lang in EXTRA_LANG_TAGS:
        return EXTRA_LANG_TAGS[lang]
    return {
        "en": "en-US",
        "fr": "fr-FR",
        "de": "de-DE",
        "nl": "nl-NL",
        "es": "es-ES",
        "da": "da-DK",
        "it": "it-IT",
        "sv": "sv-SE",
        "nb": "nb-NO",
        "fi": "fi-FI",
    }[lang]


def _boundary(seed: str, kind: str) -> str:
    if kind == "gmail":
        return "000000000000" + _hex(seed + kind, 16, upper=False)
    if kind == "apple":
        return "Apple-Mail=_" + _guid(seed + kind).upper()
    return f"_000_{_hex(seed + kind, 24)}_"


# ---------------------------------------------------------------------------------------------
# Forwards
# ---------------------------------------------------------------------------------------------

OUTLOOK_HEAD = (
    '<html xmlns:v="urn:schemas-microsoft-com:vml" '
    'xmlns:o="urn:schemas-microsoft-com:office:office" '
    'xmlns:w="urn:schemas-microsoft-com:office:word" '
    'xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
    'xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n'
    '<meta http-equiv="Content-Type" content="text/html; charset={cs}">\n'
    '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n'
    "<style><!--\n/* Font Definitions */\n@font-face\n\t{{font-family:Calibri;}}\n"
    "p.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{{margin:0cm;\n\tfont-size:11.0pt;\n"
    '\tfont-family:"Calibri",sans-serif;}}\na:link, span.MsoHyperlink\n\t{{color:#0563C1;\n'
    "\ttext-decoration:underline;}}\n.MsoChpDefault\n\t{{mso-style-type:export-only;}}\n"
    "@page WordSection1\n\t{{size:612.0pt 792.0pt;\n\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}}\n"
    "div.WordSection1\n\t{{page:WordSection1;}}\n--></style>\n</head>\n"
)


@dataclass(frozen=True)
class Fwd:
    """One forwarding step: who forwards to whom, the note, and the header block labels."""

    sender: Person
    to: Person
    date: datetime
    note: str
    prefix: str
    labels: tuple[str, str, str, str] = ("From:", "Sent:", "To:", "Subject:")
    sent_text: str = ""


def outlook_desktop_forward(
    inv_subject: str,
    orig_from: str,
    orig_to: str,
    body_html: str,
    body_text: list[str],
    fwd: Fwd,
    msgid: str,
    lang: str,
    charset: str = "utf-8",
    cte: str = "quoted-printable",
    unit: str = "cm",
) -> tuple[bytes, str]:
    orig_from, orig_to = _display(orig_from), _display(orig_to)
    frm, sent, to, subj = fwd.labels
    subject = f"{fwd.prefix} {inv_subject}"
    esc = html.escape
    doc = OUTLOOK_HEAD.format(cs=charset)
    doc += f'<body lang="{_lang_tag(lang).upper()}" link="#0563C1" vlink="#954F72" '
    doc += 'style="word-wrap:break-word">\n<div class="WordSection1">\n'
    doc += f'<p class="MsoNormal">{esc(fwd.note)}<o:p></o:p></p>\n'
    doc += '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
    doc += '<div>\n<div style="border:none;border-top:solid #E1E1E1 1.0pt;'
    doc += f'padding:3.0pt 0{unit} 0{unit} 0{unit}">\n'
    doc += f'<p class="MsoNormal"><b><span lang="{_lang_tag(lang).upper()}">{frm}</span></b>'
    doc += f"<span> {esc(orig_from)} <br>\n<b>{sent}</b> {esc(fwd.sent_text)}<br>\n"
    doc += f"<b>{to}</b> {esc(orig_to)}<br>\n<b>{subj}</b> {esc(inv_subject)}</span>"
    doc += "<o:p></o:p></p>\n</div>\n</div>\n"
    doc += '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
    doc += f'<p class="MsoNormal">{body_html}<o:p></o:p></p>\n</div>\n</body>\n</html>\n'
    text = [fwd.note, "", "", f"{frm} {orig_from}", f"{sent} {fwd.sent_text}"]
    text += [f"{to} {orig_to}", f"{subj} {inv_subject}", "", *body_text]
    text_part = leaf("plain", "\n".join(text) + "\n", charset=charset, cte=cte)
    html_part = leaf("html", doc, charset=charset, cte=cte)
    root = multipart("alternative", [text_part, html_part], _boundary(msgid, "alt"))
    top = exo_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid, _lang_tag(lang))
    return message(top, root), subject


def owa_forward(
    inv_subject: str,
    orig_from: str,
    orig_to: str,
    body_html: str,
    body_text: list[str],
    fwd: Fwd,
    msgid: str,
    lang: str,
) -> tuple[bytes, str]:
    orig_from, orig_to = _display(orig_from), _display(orig_to)
    frm, sent, to, subj = fwd.labels
    subject = f"{fwd.prefix} {inv_subject}"
    esc = html.escape
    doc = '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
    doc += '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} '
    doc += '</style>\n</head>\n<body dir="ltr">\n'
    doc += '<div class="elementToProof" style="font-family: Aptos, Aptos_EmbeddedFont, '
    doc += "Aptos_MSFontService, Calibri, Helvetica, sans-serif; font-size: 12pt; color: "
    doc += f'rgb(0, 0, 0);">\n{esc(fwd.note)}</div>\n<div id="appendonsend"></div>\n'
    doc += '<hr style="display:inline-block;width:98%" tabindex="-1">\n'
    doc += '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" '
    doc += f'style="font-size:11pt" color="#000000"><b>{frm}</b> {esc(orig_from)}<br>\n'
    doc += f"<b>{sent}</b> {esc(fwd.sent_text)}<br>\n<b>{to}</b> {esc(orig_to)}<br>\n"
    doc += f"<b>{subj}</b> {esc(inv_subject)}</font>\n<div>&nbsp;</div>\n</div>\n"
    doc += f"<div>{body_html}</div>\n</body>\n</html>\n"
    text = [fwd.note, "", "_" * 32, f"{frm} {orig_from}", f"{sent} {fwd.sent_text}"]
    text += [f"{to} {orig_to}", f"{subj} {inv_subject}", "", *body_text]
    text_part = leaf("plain", "\n".join(text) + "\n", cte="quoted-printable")
    html_part = leaf("html", doc, cte="quoted-printable")
    root = multipart("alternative", [text_part, html_part], _boundary(msgid, "alt"))
    top = exo_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid, _lang_tag(lang))
    return message(top, root), subject


def gmail_forward(
    inv_subject: str,
    orig_from_name: str,
    orig_from_addr: str,
    orig_to: str,
    body_html: str,
    body_text: list[str],
    fwd: Fwd,
    msgid: str,
    from_label: str = "From:",
) -> tuple[bytes, str]:
    orig_to = _display(orig_to)
    subject = f"Fwd: {inv_subject}"
    esc = html.escape
    doc = f'<div dir="ltr"><div>{esc(fwd.note)}</div><br><div class="gmail_quote">'
    doc += '<div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>'
    doc += f'{from_label} <strong class="gmail_sendername" dir="auto">{esc(orig_from_name)}'
    doc += f'</strong> <span dir="auto">&lt;{esc(orig_from_addr)}&gt;</span><br>'
    doc += f"Date: {esc(fwd.sent_text)}<br>Subject: {esc(inv_subject)}<br>"
    doc += f"To: {esc(orig_to)}<br></div><br><br>{body_html}</div></div>\n"
    text = [fwd.note, "", "---------- Forwarded message ---------"]
    text += [f"{from_label} {orig_from_name} <{orig_from_addr}>", f"Date: {fwd.sent_text}"]
    text += [f"Subject: {inv_subject}", f"To: {orig_to}", "", "", *body_text]
    text_part = leaf("plain", "\n".join(text) + "\n", cte="quoted-printable")
    html_part = leaf("html", doc, cte="quoted-printable")
    root = multipart("alternative", [text_part, html_part], _boundary(msgid, "gmail"))
    top = simple_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid)
    return message(top, root), subject


def apple_html_forward(
    inv_subject: str,
    orig_from: str,
    orig_to: str,
    body_html: str,
    fwd: Fwd,
    msgid: str,
    begin: str = "Begin forwarded message:",
    labels: tuple[str, str, str, str] = ("From:", "Subject:", "Date:", "To:"),
) -> tuple[bytes, str]:
    orig_from, orig_to = _display(orig_from), _display(orig_to)
    subject = f"Fwd: {inv_subject}"
    esc = html.escape
    frm, subj, date, to = labels

    def row(label: str, value: str, bold: bool = False) -> str:
        value = f"<b>{esc(value)}</b>" if bold else esc(value)
        return (
            '<div style="margin-top: 0px; margin-right: 0px; margin-bottom: 0px; margin-left: '
            '0px;"><span style="font-family: -webkit-system-font, Helvetica Neue, Helvetica, '
            f'sans-serif; color:rgba(0, 0, 0, 1.0);"><b>{label} </b></span><span style="'
            'font-family: -webkit-system-font, Helvetica Neue, Helvetica, sans-serif;">'
            f"{value}<br></span></div>\n"
        )

    doc = '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8">'
    doc += '</head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; '
    doc += f'line-break: after-white-space;">{esc(fwd.note)}<div><br><div><br>'
    doc += f'<blockquote type="cite"><div>{begin}</div><br class="Apple-interchange-newline">'
    doc += row(frm, orig_from) + row(subj, inv_subject, bold=True)
    doc += row(date, fwd.sent_text) + row(to, orig_to)
    doc += f"<br><div><div>{body_html}</div></div></blockquote></div><br></div></body></html>\n"
    html_part = leaf("html", doc, cte="quoted-printable")
    plain = [fwd.note, "", begin, "", f"{frm} {orig_from}", f"{subj} {inv_subject}"]
    plain += [f"{date} {fwd.sent_text}", f"{to} {orig_to}", ""]
    text_part = leaf("plain", "\n".join(plain) + "\n", cte="quoted-printable")
    root = multipart("alternative", [text_part, html_part], _boundary(msgid, "apple"))
    top = simple_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid)
    top.append(("X-Mailer", "Apple Mail (2.3774.500.171.1.1)"))
    return message(top, root), subject


def apple_text_forward(
    inv_subject: str,
    orig_from: str,
    orig_to: str,
    body_text: list[str],
    fwd: Fwd,
    msgid: str,
    begin: str = "Begin forwarded message:",
    labels: tuple[str, str, str, str] = ("From:", "Subject:", "Date:", "To:"),
) -> tuple[bytes, str]:
    orig_from, orig_to = _display(orig_from), _display(orig_to)
    subject = f"Fwd: {inv_subject}"
    frm, subj, date, to = labels
    quoted = [begin, "", f"{frm} {orig_from}", f"{subj} {inv_subject}"]
    quoted += [f"{date} {fwd.sent_text}", f"{to} {orig_to}", "", *body_text]
    lines = [fwd.note, ""] + [("> " + line) if line else ">" for line in quoted]
    part = leaf("plain", "\n".join(lines) + "\n", cte="quoted-printable")
    top = simple_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid)
    top.append(("X-Mailer", "Apple Mail (2.3774.500.171.1.1)"))
    return message(top, part), subject


def outlook_plain_forward(
    inv_subject: str,
    orig_from: str,
    orig_to: str,
    body_text: list[str],
    fwd: Fwd,
    msgid: str,
    separator: str = "-----Original Message-----",
) -> tuple[bytes, str]:
    orig_from, orig_to = _display(orig_from), _display(orig_to)
    subject = f"{fwd.prefix} {inv_subject}"
    frm, sent, to, subj = fwd.labels
    lines = [fwd.note, "", separator, f"{frm} {orig_from}", f"{sent} {fwd.sent_text}"]
    lines += [f"{to} {orig_to}", f"{subj} {inv_subject}", "", *body_text]
    part = leaf("plain", "\n".join(lines) + "\n", cte="quoted-printable")
    top = exo_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid, "en-GB")
    return message(top, part), subject


def thunderbird_forward(
    inv_subject: str,
    orig_from: str,
    orig_to: str,
    body_html: str,
    body_text: list[str],
    fwd: Fwd,
    msgid: str,
    separator: str = "-------- Forwarded Message --------",
    labels: tuple[str, str, str, str] = ("Subject:", "Date:", "From:", "To:"),
) -> tuple[bytes, str]:
    orig_from, orig_to = _display(orig_from), _display(orig_to)
    subject = f"Fwd: {inv_subject}"
    esc = html.escape
    subj, date, frm, to = labels
    rows = "".join(
        f'<tr><th valign="BASELINE" nowrap="nowrap" align="RIGHT">{label} </th>'
        f"<td>{esc(value)}</td></tr>"
        for label, value in (
            (subj, inv_subject),
            (date, fwd.sent_text),
            (frm, orig_from),
            (to, orig_to),
        )
    )
    doc = (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta http-equiv="content-type" '
        'content="text/html; charset=UTF-8">\n</head>\n<body>\n'
        f'<p>{esc(fwd.note)}</p>\n<div class="moz-forward-container"><br>\n<br>\n'
        f"{separator}\n"
        '<table class="moz-email-headers-table" cellspacing="0" cellpadding="0" border="0">'
        f"<tbody>{rows}</tbody></table>\n<br>\n{body_html}\n</div>\n</body>\n</html>\n"
    )
    text = [fwd.note, "", "", separator, f"{subj} \t{inv_subject}", f"{date} \t{fwd.sent_text}"]
    text += [f"{frm} \t{orig_from}", f"{to} \t{orig_to}", "", "", *body_text]
    text_part = leaf("plain", "\n".join(text) + "\n", charset="UTF-8", cte="8bit")
    html_part = leaf("html", doc, charset="UTF-8", cte="8bit")
    boundary = "------------" + _hex(msgid + "tb", 24, upper=False)[:24]
    root = multipart("alternative", [text_part, html_part], boundary)
    top = simple_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid)
    top.append(("User-Agent", "Mozilla Thunderbird"))
    top.append(("Content-Language", "en-US"))
    return message(top, root), subject


def attach_forward(
    inner: bytes,
    inner_subject: str,
    fwd: Fwd,
    msgid: str,
    client: str = "owa",
) -> tuple[bytes, str]:
    subject = f"{fwd.prefix} {inner_subject}"
    note_text = leaf("plain", fwd.note + "\n", cte="quoted-printable")
    note_html = leaf(
        "html",
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f'<body dir="ltr"><div>{html.escape(fwd.note)}</div></body></html>\n',
        cte="quoted-printable",
    )
    alt = multipart("alternative", [note_text, note_html], _boundary(msgid, "alt"))
    filename = _attachment_name(inner_subject)
    att = rfc822(inner, filename=filename)
    root = multipart("mixed", [alt, att], _boundary(msgid, "mixed"))
    if client == "gmail":
        root = replace(root, boundary=_boundary(msgid, "gmail"))
        root.headers[0] = ("Content-Type", f'multipart/mixed; boundary="{root.boundary}"')
        top = simple_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid)
    else:
        top = exo_top(fwd.sender.header(), fwd.to.header(), subject, fwd.date, msgid)
        top = [(k, "yes" if k == "X-MS-Has-Attach" else v) for k, v in top]
    return message(top, root), subject


def _attachment_name(subject: str) -> str:
    name = subject.replace(":", "").replace("/", "-") + ".eml"
    if name.isascii():
        return name
    return name.encode("ascii", "replace").decode("ascii").replace("?", "_")


# ---------------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------------

ENTRIES: list[dict[str, object]] = []
FILES: dict[str, bytes] = {}


def add(
    name: str,
    category: str,
    language: str,
    verdict: str,
    raw: bytes,
    message_id: str,
    note: str,
    inv: Invite | None = None,
    reason_contains: str | list[str] | None = None,
    **override: object,
) -> None:
    filename = f"{name}.eml"
    if filename in FILES:
        raise SystemExit(f"duplicate file {filename}")
    if b"\r\n" not in raw or b"\n" in raw.replace(b"\r\n", b""):
        raise SystemExit(f"{filename}: line endings are not CRLF")
    FILES[filename] = raw
    entry: dict[str, object] = {
        "file": filename,
        "category": category,
        "language": language,
        "verdict": verdict,
        "message_id": message_id,
    }
    if verdict == "invitation":
        assert inv is not None
        entry["access_link"] = inv.access_link
        entry["add_client_link"] = inv.add_client_link
        entry["client_url"] = client_url_of(inv.access_link)
        entry["company_name"] = inv.expected_company
    if verdict == "rejected":
        assert reason_contains
        entry["reason_contains"] = reason_contains
    entry.update(override)
    entry["note"] = note
    ENTRIES.append(entry)


def client_url_of(link: str) -> str:
    rest = link.split("://", 1)[1]
    host, _, path = rest.partition("/")
    host = host.split("?", 1)[0].lower()
    if host.endswith(".financials.dynamics.com"):
        return f"https://{host}"
    tenant = path.split("?", 1)[0].strip("/").lower()
    return f"https://{host}/{tenant}"


def yaml_scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def write_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.eml"):
        if old.name not in FILES:
            old.unlink()
    for filename, raw in FILES.items():
        (out / filename).write_bytes(raw)
    order = [
        "file",
        "category",
        "language",
        "verdict",
        "message_id",
        "access_link",
        "add_client_link",
        "client_url",
        "company_name",
        "reason_contains",
        "note",
    ]
    lines = [
        "# Labelled corpus of test emails. Generated by tests/corpus/generate.py; do not edit by",
        "# hand. Expectations follow docs/invitation-emails.md (the research notes).",
        "#",
        "# access_link: link 1 exactly as Business Central wrote it, after undoing gateway",
        "#   rewriting. add_client_link: the Accountant Hub href exactly as written (raw spaces",
        "#   and single quotes) or null. client_url: normalized (lower-cased tenant, no query, no",
        "#   trailing slash). company_name: the hub filter's Customer.Name when a hub link is",
        "#   present, else the last line of the welcome text. message_id: of the message that",
        "#   carries the invitation (the inner one for a forward as attachment).",
        "# reason_contains (rejected only): a keyword some reason must contain (case-insensitive);",
        "#   a list means any one of them.",
        "entries:",
    ]
    for entry in ENTRIES:
        first = True
        for key in order:
            if key not in entry:
                continue
            lead = "  - " if first else "    "
            lines.append(f"{lead}{key}: {yaml_scalar(entry[key])}")
            first = False
    (out / "manifest.yaml").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------

GUID_TENANT = "3f2b9c1e-7a4d-4e8b-9c2f-5d1a6b7e8f90"
GUID_TENANT_2 = "9D41E6A2-0B37-4C55-8E1F-2A6C7B9D3E04"

KESTREL_ADMIN = Person("Oliver", "Oliver Grant", "oliver.grant@kestrel-analytics.example")
CONTOSO_ADMIN = Person("Maya", "Maya Patel", "maya.patel@contoso-bakery.example")
MUELLER_ADMIN = Person("Petra", "Petra Müller", "p.mueller@baeckerei-mueller.example")
DUPRE_ADMIN = Person("Hélène", "Hélène Dupré", "helene.dupre@fromagerie-dupre.example")
VDBERG_ADMIN = Person("Pieter", "Pieter van den Berg", "pieter@vandenberg-zonen.example")
NUNEZ_ADMIN = Person("Javier", "Javier Núñez", "javier.nunez@panaderia-nunez.example")
OSTER_ADMIN = Person("Søren", "Søren Østergaard", "soren@ostergaard-mobler.example")
DAMICO_ADMIN = Person("Marco", "Marco D'Amico", "marco.damico@oleificio-damico.example")
AKESSON_ADMIN = Person("Karin", "Karin Åkesson", "karin@akesson-bygg.example")
FJELL_ADMIN = Person("Lars", "Lars Fjellstrøm", "lars@fjellstrom.example")
JARVI_ADMIN = Person("Mikko", "Mikko Järvinen", "mikko@jarvinen-oy.example")
OBRIEN_ADMIN = Person("Siobhan", "Siobhán O'Brien", "siobhan@obrien-joinery.example")
NORTHWIND_ADMIN = Person("Grace", "Grace Liu", "grace.liu@northwind-traders.example")
HARBOUR_ADMIN = Person("Ben", "Ben Okafor", "ben.okafor@harbourlight.example")
PHISH = Person("Oliver", "Oliver Grant", "oliver.grant@kestrel-analytics.example")


def gen_current() -> None:
    cat = "current"
    # 1. The plain default: Exchange Online, HTML only, quoted-printable, initial domain.
    inv = Invite(
        "en",
        "kestrel.onmicrosoft.com",
        "Kestrel Analytics Ltd",
        "OLIVER.GRANT",
        KESTREL_ADMIN,
        ANNA,
        when(2023, 3, 14),
    )
    mid = exo_msgid("current-en-kestrel")
    add(
        "current-en-kestrel-html-qp",
        cat,
        "en",
        "invitation",
        original(inv, mid),
        mid,
        "default welcome text, text/html only, quoted-printable",
        inv,
    )

    # 2. Tenant object ID instead of a domain, base64.
    inv = Invite(
        "en",
        GUID_TENANT,
        "Harbourlight Marine Supplies",
        "ben.okafor@harbourlight.example",
        HARBOUR_ADMIN,
        ANNA,
        when(2022, 11, 2, 15, 3, 7),
    )
    mid = exo_msgid("current-en-guid")
    add(
        "current-en-guid-tenant-base64",
        cat,
        "en",
        "invitation",
        original(inv, mid, cte="base64"),
        mid,
        "tenant object ID (GUID) instead of the initial domain, base64",
        inv,
    )

    # 3. Upper-case GUID, multipart/alternative with a server-made text part.
    inv = Invite(
        "en",
        GUID_TENANT_2,
        "Northwind Traders Inc.",
        "GRACE",
        NORTHWIND_ADMIN,
        TOM,
        when(2024, 1, 22, 8, 45, 0, -5),
    )
    mid = exo_msgid("current-en-guid-upper")
    add(
        "current-en-guid-uppercase-alternative",
        cat,
        "en",
        "invitation",
        original(inv, mid, mime="alternative"),
        mid,
        "upper-case GUID tenant (client_url lower-cased), multipart/alternative",
        inv,
    )

    # 4. Custom domain as the initial domain, like the example in the docs.
    inv = Invite(
        "en",
        "northwind-traders.example",
        "Northwind Traders",
        "grace.liu@northwind-traders.example",
        NORTHWIND_ADMIN,
        TOM,
        when(2023, 6, 5, 11, 30, 12, 1),
    )
    mid = exo_msgid("current-en-custom-domain")
    add(
        "current-en-custom-domain",
        cat,
        "en",
        "invitation",
        original(inv, mid, cte="7bit", charset="us-ascii"),
        mid,
        "custom domain as tenant, us-ascii 7bit",
        inv,
    )

    # 5. Mixed-case tenant and redirectedFromSignup spelling.
    inv = Invite(
        "en",
        "BlueHeron.onmicrosoft.com",
        "Blue Heron Outfitters",
        "ADMIN",
        Person("Rita", "Rita Gomez", "rita@blueheron.example"),
        ANNA,
        when(2023, 9, 18, 16, 0, 2),
        link1="https://businesscentral.dynamics.com/BlueHeron.onmicrosoft.com?redirectedFromSignup=1",
    )
    mid = exo_msgid("current-en-mixedcase")
    add(
        "current-en-mixedcase-tenant",
        cat,
        "en",
        "invitation",
        original(inv, mid),
        mid,
        "mixed-case tenant and redirectedFromSignup spelling; client_url is lower-cased",
        inv,
    )

    # 6. windows-1252 with typographic characters in the welcome text.
    inv = Invite(
        "en",
        "obrienjoinery.onmicrosoft.com",
        "O’Brien Joinery (Cork) Ltd",
        "SIOBHAN",
        OBRIEN_ADMIN,
        TOM,
        when(2022, 4, 8, 10, 1, 0, 1),
        welcome="Hi Tom,\n\nAs discussed on the phone – here’s the invitation for the year-end "
        "accounts (€ figures are in the EUR company).\n\nBest Regards,\nSIOBHAN\n"
        "O’Brien Joinery (Cork) Ltd",
    )
    mid = exo_msgid("current-en-cp1252")
    add(
        "current-en-windows-1252-qp",
        cat,
        "en",
        "invitation",
        original(inv, mid, charset="windows-1252"),
        mid,
        "charset windows-1252 (curly apostrophe, en dash, euro sign), edited welcome text",
        inv,
    )

    # 7. iso-8859-1, German.
    inv = Invite(
        "de",
        "baeckerei-mueller.onmicrosoft.com",
        "Bäckerei Müller GmbH",
        "PETRA.MUELLER",
        MUELLER_ADMIN,
        JONAS,
        when(2023, 2, 1, 7, 58, 31, 1),
    )
    mid = exo_msgid("current-de-latin1")
    add(
        "current-de-iso-8859-1",
        cat,
        "de",
        "invitation",
        original(inv, mid, charset="iso-8859-1"),
        mid,
        "German labels, charset iso-8859-1 quoted-printable",
        inv,
    )

    # 8. Undeclared 8-bit (UTF-8 bytes, no charset parameter), SMTP style sender.
    inv = Invite(
        "fr",
        "fromagerie-dupre.onmicrosoft.com",
        "Fromagerie Dupré",
        "HELENE",
        DUPRE_ADMIN,
        CLAIRE,
        when(2021, 10, 12, 14, 22, 5, 2),
    )
    mid = smtp_msgid("current-fr-8bit", "fromagerie-dupre.example")
    add(
        "current-fr-undeclared-8bit-utf8",
        cat,
        "fr",
        "invitation",
        original(inv, mid, style="smtp", charset=None, cte="8bit", encode_as="utf-8"),
        mid,
        "text/html without charset, 8bit UTF-8 bytes",
        inv,
    )

    # 9. Undeclared 8-bit, windows-1252 bytes.
    inv = Invite(
        "es",
        "panaderia-nunez.onmicrosoft.com",
        "Panadería Núñez",
        "JAVIER",
        NUNEZ_ADMIN,
        LUCIA,
        when(2022, 5, 30, 12, 0, 0, 2),
    )
    mid = smtp_msgid("current-es-8bit", "panaderia-nunez.example")
    add(
        "current-es-undeclared-8bit-cp1252",
        cat,
        "es",
        "invitation",
        original(inv, mid, style="smtp", charset=None, cte="8bit", encode_as="windows-1252"),
        mid,
        "text/html without charset, 8bit windows-1252 bytes",
        inv,
    )

    # 10-17. One per language (labels in that language).
    per_lang = [
        ("fr", "lesateliersdupont.onmicrosoft.com", "Les Ateliers Dupont", None, "base64"),
        ("de", "schreinerei-vogel.onmicrosoft.com", "Schreinerei Vogel KG", None, "base64"),
        ("nl", "vandenbergzonen.onmicrosoft.com", "Van den Berg & Zonen B.V.", VDBERG_ADMIN, None),
        ("es", "vinosdelsur.onmicrosoft.com", "Vinos del Sur S.L.", None, None),
        ("da", "ostergaardmobler.onmicrosoft.com", "Østergaard Møbler ApS", OSTER_ADMIN, "base64"),
        ("it", "oleificiodamico.onmicrosoft.com", "Oleificio D'Amico S.r.l.", DAMICO_ADMIN, None),
        ("sv", "akessonbygg.onmicrosoft.com", "Åkesson Bygg AB", AKESSON_ADMIN, "base64"),
        ("nb", "fjellstrom.onmicrosoft.com", "Fjellstrøm Regnskap AS", FJELL_ADMIN, None),
        ("fi", "jarvinenoy.onmicrosoft.com", "Järvinen Oy", JARVI_ADMIN, "base64"),
    ]
    for i, (lang, tenant, company, admin, cte) in enumerate(per_lang):
        admin = admin or Person(
            "Alex", f"Alex {company.split()[0]}", f"admin@{tenant[:-16]}.example"
        )
        inv = Invite(
            lang,
            tenant,
            company,
            admin.addr if i % 2 else admin.first.upper(),
            admin,
            ACCOUNTANT_FOR_LANG[lang],
            when(2021 + i % 4, 1 + i, 3 + i, 9 + i % 6, 7 * i % 60, 11),
        )
        mid = exo_msgid(f"current-{lang}-{tenant}")
        add(
            f"current-{lang}-default",
            cat,
            lang,
            "invitation",
            original(
                inv,
                mid,
                cte=cte or "quoted-printable",
                mime="alternative" if i % 3 == 0 else "html",
            ),
            mid,
            f"default welcome text, labels in {lang}",
            inv,
        )

    # 18. Subject in German, welcome text rewritten in English by the admin.
    inv = Invite(
        "de",
        "alpenblick-hotels.onmicrosoft.com",
        "Alpenblick Hotels AG",
        "admin@alpenblick-hotels.example",
        Person("Heidi", "Heidi Brunner", "admin@alpenblick-hotels.example"),
        ANNA,
        when(2023, 7, 3, 13, 14, 15, 2),
        welcome="Dear Anna,\n\nthanks for taking over our bookkeeping. Please use the link below "
        "and let me know if anything is missing.\n\nKind regards\nHeidi Brunner\n"
        "Alpenblick Hotels AG",
    )
    mid = exo_msgid("current-de-en-welcome")
    add(
        "current-de-subject-en-welcome",
        cat,
        "de",
        "invitation",
        original(inv, mid),
        mid,
        "German labels, welcome text rewritten in English",
        inv,
    )

    # 19. Subject English, welcome text in Dutch, shortened by the admin.
    inv = Invite(
        "en",
        "tulpenhof.onmicrosoft.com",
        "Kwekerij Tulpenhof",
        "JANSEN",
        Person("Kees", "Kees Jansen", "kees@tulpenhof.example"),
        SANNE,
        when(2024, 3, 11, 10, 10, 10, 1),
        welcome="Hoi Sanne,\nHierbij de uitnodiging voor onze administratie.\nGroet,\nKees\n"
        "Kwekerij Tulpenhof",
    )
    mid = exo_msgid("current-en-nl-welcome")
    add(
        "current-en-subject-nl-welcome",
        cat,
        "en",
        "invitation",
        original(inv, mid, mime="alternative"),
        mid,
        "English labels, short Dutch welcome text by the admin",
        inv,
    )

    # 20. Company name with an ampersand (BC does not HTML-escape the welcome text).
    inv = Invite(
        "en",
        "smithandsons.onmicrosoft.com",
        "Smith & Sons Plumbing",
        "JSMITH",
        Person("Jack", "Jack Smith", "jack@smithandsons.example"),
        ANNA,
        when(2023, 12, 4, 17, 40, 0),
    )
    mid = exo_msgid("current-en-ampersand")
    add(
        "current-en-ampersand-company",
        cat,
        "en",
        "invitation",
        original(inv, mid),
        mid,
        "raw '&' in the company display name",
        inv,
    )


def gen_hub() -> None:
    cat = "hub"
    cases = [
        # lang, tenant, company display name, tenant display name, admin, cte, mime, style
        (
            "en",
            "kestrel.onmicrosoft.com",
            "KESTREL UK",
            "Kestrel Analytics Ltd",
            KESTREL_ADMIN,
            "quoted-printable",
            "html",
            "smtp",
        ),
        (
            "en",
            "contoso-bakery.onmicrosoft.com",
            "Contoso Bakery",
            "Contoso Bakery & Café",
            CONTOSO_ADMIN,
            "base64",
            "html",
            "smtp",
        ),
        (
            "en",
            "obrienjoinery.onmicrosoft.com",
            "O'Brien Joinery",
            "O'Brien Joinery (Cork) Ltd",
            OBRIEN_ADMIN,
            "quoted-printable",
            "alternative",
            "exo",
        ),
        (
            "de",
            "baeckerei-mueller.onmicrosoft.com",
            "Bäckerei Müller",
            "Bäckerei Müller GmbH",
            MUELLER_ADMIN,
            "quoted-printable",
            "html",
            "smtp",
        ),
        (
            "fr",
            "fromagerie-dupre.onmicrosoft.com",
            "Fromagerie Dupré",
            "Fromagerie Dupré SARL",
            DUPRE_ADMIN,
            "base64",
            "html",
            "smtp",
        ),
        (
            "nl",
            "vandenbergzonen.onmicrosoft.com",
            "Van den Berg",
            "Van den Berg & Zonen B.V.",
            VDBERG_ADMIN,
            "quoted-printable",
            "html",
            "exo",
        ),
        (
            "es",
            "panaderia-nunez.onmicrosoft.com",
            "Panadería Núñez",
            "Panadería Núñez S.L.",
            NUNEZ_ADMIN,
            "quoted-printable",
            "alternative",
            "smtp",
        ),
        (
            "da",
            "ostergaardmobler.onmicrosoft.com",
            "Østergaard Møbler",
            "Østergaard Møbler ApS",
            OSTER_ADMIN,
            "base64",
            "html",
            "smtp",
        ),
        (
            "it",
            "oleificiodamico.onmicrosoft.com",
            "Oleificio D'Amico",
            "Oleificio D'Amico S.r.l.",
            DAMICO_ADMIN,
            "quoted-printable",
            "html",
            "smtp",
        ),
        (
            "sv",
            "akessonbygg.onmicrosoft.com",
            "Åkesson Bygg",
            "Åkesson Bygg AB",
            AKESSON_ADMIN,
            "quoted-printable",
            "html",
            "exo",
        ),
        (
            "en",
            GUID_TENANT,
            "Harbourlight Marine",
            "Harbourlight Marine Supplies Ltd.",
            HARBOUR_ADMIN,
            "quoted-printable",
            "html",
            "smtp",
        ),
    ]
    for i, (lang, tenant, company, display, admin, cte, mime, style) in enumerate(cases):
        inv = Invite(
            lang,
            tenant,
            company,
            admin.addr if style == "exo" else admin.first.upper(),
            admin,
            ACCOUNTANT_FOR_LANG[lang],
            when(2018 + i % 3, 1 + i, 2 + 2 * i, 8 + i % 9, 3 * i, 50),
            hub_name=display,
        )
        domain = admin.addr.split("@")[1]
        seed = f"hub-{lang}-{tenant}"
        mid = exo_msgid(seed) if style == "exo" else smtp_msgid(seed, "mail." + domain)
        slug = tenant.split(".")[0] if tenant != GUID_TENANT else "guid"
        add(
            f"hub-{lang}-{slug}",
            cat,
            lang,
            "invitation",
            original(inv, mid, style=style, cte=cte, mime=mime),
            mid,
            f"Accountant Hub era ({style}), tenant display name differs from company name",
            inv,
        )

    # Hub era, welcome text edited (company line still last), iso-8859-1.
    inv = Invite(
        "fr",
        "cave-lefebvre.onmicrosoft.com",
        "Cave Lefebvre",
        "admin@cave-lefebvre.example",
        Person("Luc", "Luc Lefebvre", "admin@cave-lefebvre.example"),
        CLAIRE,
        when(2019, 11, 20, 18, 5, 0, 1),
        hub_name="Cave Lefebvre & Fils",
        welcome="Bonjour Claire,\n\nComme convenu, voici l'accès à notre comptabilité.\n\n"
        "Bien à vous,\nLuc Lefebvre\nCave Lefebvre",
    )
    mid = smtp_msgid("hub-fr-latin1", "mail.cave-lefebvre.example")
    add(
        "hub-fr-edited-welcome-iso-8859-1",
        cat,
        "fr",
        "invitation",
        original(inv, mid, style="smtp", charset="iso-8859-1"),
        mid,
        "hub era, edited welcome text, iso-8859-1; name from the hub filter",
        inv,
    )


def gen_financials() -> None:
    cat = "financials2017"
    cases = [
        (
            "cedarline",
            "https://cedarline.financials.dynamics.com",
            None,
            "You have been invited to Dynamics 365 for Financials",
            "Cedarline Furniture Inc.",
        ),
        (
            "mybusiness",
            "https://mybusiness.financials.dynamics.com/",
            None,
            "You have been invited to Microsoft Dynamics 365 for Financials",
            "My Business LLC",
        ),
        (
            "riverbend",
            "https://riverbend.financials.dynamics.com/?redirectedfromsignup=1",
            None,
            None,
            "Riverbend Dental Group",
        ),
        (
            "maplecrest",
            "https://maplecrest.financials.dynamics.com",
            "Maplecrest Hardware Ltd.",
            None,
            "Maplecrest Hardware",
        ),
        (
            "Lakeshore",
            "https://Lakeshore.financials.dynamics.com",
            "Lakeshore Veterinary Clinic",
            None,
            "Lakeshore Vet",
        ),
    ]
    for i, (name, link, hub_name, subject, company) in enumerate(cases):
        admin = Person("Pat", "Pat Morgan", f"pat@{name.lower()}.example")
        inv = Invite(
            "en",
            f"{name}.financials.dynamics.com",
            company,
            "PAT",
            admin,
            TOM,
            when(2017, 9 + i % 4, 5 + i, 10, 20 + i, 0, -5),
            hub_name=hub_name,
            product=PRODUCT_FIN,
            link1=link,
            subject=subject,
        )
        mid = smtp_msgid(f"fin-{name}", f"mail.{name.lower()}.example")
        add(
            f"financials2017-en-{name.lower()}",
            cat,
            "en",
            "invitation",
            original(inv, mid, style="smtp", cte="base64" if i % 2 else "quoted-printable"),
            mid,
            "Dynamics 365 for Financials (2017), legacy <name>.financials.dynamics.com"
            + (", with Accountant Hub link" if hub_name else ""),
            inv,
        )


# --- forwards ----------------------------------------------------------------------------------


def _inline_variants(inv: Invite, autolink: bool, wrap=None, text_wrap=None):
    return (
        render_html_lines(inv.lines(), autolink=autolink, wrap=wrap, text_wrap=text_wrap),
        render_text_lines(inv.lines(), wrap=text_wrap),
    )


def gen_forwards() -> None:
    cat = "forward-inline"
    colleague = Person("Rachel", "Rachel Kim", "rachel.kim@brightledger.example")
    base = Invite(
        "en",
        "kestrel.onmicrosoft.com",
        "Kestrel Analytics Ltd",
        "OLIVER.GRANT",
        KESTREL_ADMIN,
        colleague,
        when(2023, 3, 14),
    )

    # Outlook desktop, English, current era.
    fwd = Fwd(
        colleague,
        ANNA,
        when(2023, 3, 14, 10, 2, 0),
        "Anna, can you set this one up?",
        "FW:",
        sent_text="Tuesday, March 14, 2023 9:12 AM",
    )
    body_html, body_text = _inline_variants(base, autolink=True)
    mid = exo_msgid("fwd-outlook-en")
    raw, _ = outlook_desktop_forward(
        base.subject_line,
        base.sender.header().replace('"', ""),
        colleague.header(),
        body_html,
        body_text,
        fwd,
        mid,
        "en",
    )
    add(
        "forward-outlook-en-fw",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Outlook desktop inline forward (FW:), link 1 autolinked",
        base,
    )

    # Outlook desktop, English, hub era, subject prefix "Fw:".
    hub = replace(
        base,
        hub_name="Kestrel Analytics Ltd",
        company="KESTREL UK",
        date=when(2019, 5, 6, 8, 0, 0, 1),
    )
    fwd = Fwd(
        colleague,
        ANNA,
        when(2019, 5, 6, 9, 30, 0, 1),
        "New client, see below.",
        "Fw:",
        sent_text="06 May 2019 08:00",
    )
    body_html, body_text = _inline_variants(hub, autolink=True)
    mid = exo_msgid("fwd-outlook-en-hub")
    raw, _ = outlook_desktop_forward(
        hub.subject_line,
        hub.sender.addr,
        colleague.header(),
        body_html,
        body_text,
        fwd,
        mid,
        "en",
        unit="in",
    )
    add(
        "forward-outlook-en-hub",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Outlook desktop forward of a hub-era email (Fw:)",
        hub,
    )

    # Outlook desktop, French (TR:).
    inv = Invite(
        "fr",
        "fromagerie-dupre.onmicrosoft.com",
        "Fromagerie Dupré",
        "HELENE",
        DUPRE_ADMIN,
        Person("Marc", "Marc Roux", "marc.roux@cabinet-martin.example"),
        when(2022, 6, 1, 9, 0, 0, 2),
    )
    fwd = Fwd(
        inv.to,
        CLAIRE,
        when(2022, 6, 1, 9, 40, 0, 2),
        "Claire, nouveau client à créer.",
        "TR :",
        ("De :", "Envoyé :", "À :", "Objet :"),
        "mercredi 1 juin 2022 09:00",
    )
    body_html, body_text = _inline_variants(inv, autolink=True)
    mid = exo_msgid("fwd-outlook-fr")
    raw, _ = outlook_desktop_forward(
        inv.subject_line,
        inv.sender.header(),
        inv.to.header(),
        body_html,
        body_text,
        replace(fwd, prefix="TR:"),
        mid,
        "fr",
    )
    add(
        "forward-outlook-fr-tr",
        cat,
        "fr",
        "invitation",
        raw,
        mid,
        "Outlook desktop French forward (TR:, De :/Envoyé :/À :/Objet :)",
        inv,
    )

    # Outlook desktop, German (WG:), hub era.
    inv = Invite(
        "de",
        "baeckerei-mueller.onmicrosoft.com",
        "Bäckerei Müller",
        "PETRA.MUELLER",
        MUELLER_ADMIN,
        Person("Uwe", "Uwe Brandt", "u.brandt@kanzlei-schneider.example"),
        when(2019, 2, 12, 10, 0, 0, 1),
        hub_name="Bäckerei Müller GmbH",
    )
    fwd = Fwd(
        inv.to,
        JONAS,
        when(2019, 2, 12, 11, 15, 0, 1),
        "Zur Info - bitte anlegen.",
        "WG:",
        ("Von:", "Gesendet:", "An:", "Betreff:"),
        "Dienstag, 12. Februar 2019 10:00",
    )
    body_html, body_text = _inline_variants(inv, autolink=True)
    mid = exo_msgid("fwd-outlook-de")
    raw, _ = outlook_desktop_forward(
        inv.subject_line,
        inv.sender.addr,
        inv.to.header(),
        body_html,
        body_text,
        fwd,
        mid,
        "de",
        charset="iso-8859-1",
    )
    add(
        "forward-outlook-de-wg-hub",
        cat,
        "de",
        "invitation",
        raw,
        mid,
        "Outlook desktop German forward (WG:, Von:/Gesendet:/An:/Betreff:), hub era, latin-1",
        inv,
    )

    # Outlook on the web, English.
    fwd = Fwd(
        colleague,
        ANNA,
        when(2024, 2, 6, 15, 1, 0),
        "FYI",
        "FW:",
        sent_text="Tuesday, February 6, 2024 14:55",
    )
    inv = replace(base, date=when(2024, 2, 6, 14, 55, 0))
    body_html = inv.fragment().replace("</br>", "<br>")
    body_text = render_text_lines(inv.lines())
    mid = exo_msgid("fwd-owa-en")
    raw, _ = owa_forward(
        inv.subject_line,
        inv.sender.header(),
        colleague.header(),
        body_html,
        body_text,
        fwd,
        mid,
        "en",
    )
    add(
        "forward-owa-en",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Outlook on the web forward (32 underscores, divRplyFwdMsg), link 1 stays plain",
        inv,
    )

    # Outlook on the web, Spanish (RV:).
    inv = Invite(
        "es",
        "vinosdelsur.onmicrosoft.com",
        "Vinos del Sur S.L.",
        "ADMIN",
        Person("Ana", "Ana Ruiz", "ana@vinosdelsur.example"),
        Person("Pablo", "Pablo Gil", "pgil@asesoria-romero.example"),
        when(2023, 10, 9, 12, 0, 0, 2),
    )
    fwd = Fwd(
        inv.to,
        LUCIA,
        when(2023, 10, 9, 12, 30, 0, 2),
        "Lucía, para ti.",
        "RV:",
        ("De:", "Enviado:", "Para:", "Asunto:"),
        "lunes, 9 de octubre de 2023 12:00",
    )
    body_html, body_text = _inline_variants(inv, autolink=True)
    mid = exo_msgid("fwd-owa-es")
    raw, _ = owa_forward(
        inv.subject_line, inv.sender.header(), inv.to.header(), body_html, body_text, fwd, mid, "es"
    )
    add(
        "forward-owa-es-rv",
        cat,
        "es",
        "invitation",
        raw,
        mid,
        "Outlook on the web Spanish forward (RV:)",
        inv,
    )

    # Gmail, English, hub era.
    inv = replace(hub, to=colleague)
    fwd = Fwd(
        colleague,
        ANNA,
        when(2019, 5, 7, 9, 31, 0, 1),
        "See below",
        "Fwd:",
        sent_text="Mon, May 6, 2019 at 9:00 AM",
    )
    body_html, body_text = _inline_variants(inv, autolink=True)
    mid = gmail_msgid("fwd-gmail-en-hub")
    raw, _ = gmail_forward(
        inv.subject_line,
        "",
        inv.sender.addr,
        f"<{colleague.addr}>",
        body_html,
        [*body_text],
        fwd,
        mid,
    )
    add(
        "forward-gmail-en-hub",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Gmail forward (gmail_quote, link 1 as <a href=URL>URL</a>), hub era",
        inv,
    )

    # Gmail, French UI (only From localized).
    inv = Invite(
        "fr",
        "lesateliersdupont.onmicrosoft.com",
        "Les Ateliers Dupont",
        "ADMIN",
        Person("Paul", "Paul Dupont", "paul@ateliers-dupont.example"),
        Person("Léa", "Léa Girard", "lea.girard.compta@cabinet-martin.example"),
        when(2021, 10, 27, 9, 31, 0, 2),
    )
    fwd = Fwd(
        inv.to,
        CLAIRE,
        when(2021, 10, 27, 10, 0, 0, 2),
        "Pour info",
        "Fwd:",
        sent_text="mer. 27 oct. 2021 à 09:31",
    )
    body_html, body_text = _inline_variants(inv, autolink=True)
    mid = gmail_msgid("fwd-gmail-fr")
    raw, _ = gmail_forward(
        inv.subject_line,
        "Paul Dupont",
        inv.sender.addr,
        f"<{inv.to.addr}>",
        body_html,
        body_text,
        fwd,
        mid,
        from_label="De :",
    )
    add(
        "forward-gmail-fr",
        cat,
        "fr",
        "invitation",
        raw,
        mid,
        "Gmail forward with French UI (De :)",
        inv,
    )

    # Apple Mail HTML, English.
    inv = replace(base, date=when(2022, 10, 25, 11, 17, 21, 3))
    fwd = Fwd(
        colleague,
        ANNA,
        when(2022, 10, 25, 11, 30, 0, 3),
        "Another one for you.",
        "Fwd:",
        sent_text="25 October 2022 at 11:17:21 EEST",
    )
    body_html = inv.fragment().replace("</br>", "<br>")
    mid = apple_msgid("fwd-apple-en", "brightledger.example")
    raw, _ = apple_html_forward(
        inv.subject_line, inv.sender.header(), colleague.header(), body_html, fwd, mid
    )
    add(
        "forward-apple-html-en",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Apple Mail HTML forward (blockquote type=cite)",
        inv,
    )

    # Apple Mail plain text, French, "> " quoting.
    inv = Invite(
        "fr",
        "cave-lefebvre.onmicrosoft.com",
        "Cave Lefebvre",
        "LUC",
        Person("Luc", "Luc Lefebvre", "admin@cave-lefebvre.example"),
        Person("Marc", "Marc Roux", "marc.roux@cabinet-martin.example"),
        when(2021, 10, 26, 14, 25, 8, 3),
    )
    fwd = Fwd(
        inv.to,
        CLAIRE,
        when(2021, 10, 26, 15, 0, 0, 2),
        "Claire, voir ci-dessous.",
        "Fwd:",
        sent_text="26 octobre 2021 à 14:25:08 UTC+3",
    )
    mid = apple_msgid("fwd-apple-fr-text", "cabinet-martin.example")
    raw, _ = apple_text_forward(
        inv.subject_line,
        inv.sender.header(),
        inv.to.header(),
        render_text_lines(inv.lines(), style="apple"),
        fwd,
        mid,
        begin="Début du message réexpédié :",
        labels=("De:", "Objet:", "Date:", "À:"),
    )
    add(
        "forward-apple-text-fr",
        cat,
        "fr",
        "invitation",
        raw,
        mid,
        "Apple Mail plain-text forward, '> ' quoting, Début du message réexpédié :",
        inv,
    )

    # Apple Mail plain text, English, hub era (hub link as "here <URL with spaces>").
    inv = replace(hub, to=colleague)
    fwd = Fwd(
        colleague,
        ANNA,
        when(2019, 5, 8, 7, 0, 0, 1),
        "Forwarding as requested.",
        "Fwd:",
        sent_text="6 May 2019 at 08:00:00 CEST",
    )
    mid = apple_msgid("fwd-apple-en-text-hub", "brightledger.example")
    raw, _ = apple_text_forward(
        inv.subject_line,
        inv.sender.addr,
        colleague.header(),
        render_text_lines(inv.lines(), style="apple"),
        fwd,
        mid,
    )
    add(
        "forward-apple-text-en-hub",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Apple Mail plain-text forward of a hub-era email; the hub URL (with spaces) in <...>",
        inv,
    )

    # Outlook plain text with -----Original Message-----.
    inv = replace(base, date=when(2021, 11, 30, 16, 0, 0))
    fwd = Fwd(
        colleague,
        ANNA,
        when(2021, 11, 30, 16, 20, 0),
        "Please handle.",
        "FW:",
        sent_text="Tuesday, November 30, 2021 4:00 PM",
    )
    mid = exo_msgid("fwd-outlook-plain")
    raw, _ = outlook_plain_forward(
        inv.subject_line,
        inv.sender.header(),
        colleague.header(),
        render_text_lines(inv.lines()),
        fwd,
        mid,
    )
    add(
        "forward-outlook-plain-original-message",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Outlook plain-text forward (-----Original Message-----)",
        inv,
    )

    # Localized subject prefixes from Outlook: I: (it), VS: (da), VB: (sv), ENC: (pt-BR).
    more = [
        (
            "it",
            "I:",
            ("Da:", "Inviato:", "A:", "Oggetto:"),
            "oleificiodamico.onmicrosoft.com",
            "Oleificio D'Amico S.r.l.",
            DAMICO_ADMIN,
            GIULIA,
            "martedì 7 marzo 2023 10:00",
        ),
        (
            "da",
            "VS:",
            ("Fra:", "Sendt:", "Til:", "Emne:"),
            "ostergaardmobler.onmicrosoft.com",
            "Østergaard Møbler ApS",
            OSTER_ADMIN,
            METTE,
            "7. marts 2023 10:00",
        ),
        (
            "sv",
            "VB:",
            ("Från:", "Skickat:", "Till:", "Ämne:"),
            "akessonbygg.onmicrosoft.com",
            "Åkesson Bygg AB",
            AKESSON_ADMIN,
            ERIK,
            "den 7 mars 2023 10:00",
        ),
        (
            "en",
            "ENC:",
            ("De:", "Enviado:", "Para:", "Assunto:"),
            "cafebrasileiro.onmicrosoft.com",
            "Café Brasileiro Ltda",
            Person("João", "João Silva", "joao@cafebrasileiro.example"),
            BEATRIZ,
            "terça-feira, 7 de março de 2023 10:00",
        ),
    ]
    for i, (lang, prefix, labels, tenant, company, admin, target, sent) in enumerate(more):
        helper = Person("Sam", "Sam Office", f"office@{target.addr.split('@')[1]}")
        inv = Invite(
            lang, tenant, company, admin.first.upper(), admin, helper, when(2023, 3, 7, 10, 0, 0, 1)
        )
        fwd = Fwd(
            helper,
            target,
            when(2023, 3, 7, 10, 30 + i, 0, 1),
            "Til info / FYI",
            prefix,
            labels,
            sent,
        )
        body_html, body_text = _inline_variants(inv, autolink=True)
        mid = exo_msgid(f"fwd-prefix-{prefix}")
        if i % 2:
            raw, _ = owa_forward(
                inv.subject_line,
                inv.sender.header(),
                helper.header(),
                body_html,
                body_text,
                fwd,
                mid,
                lang,
            )
        else:
            raw, _ = outlook_desktop_forward(
                inv.subject_line,
                inv.sender.header(),
                helper.header(),
                body_html,
                body_text,
                fwd,
                mid,
                lang,
            )
        slug = prefix.rstrip(":").lower()
        note = "Brazilian Portuguese Outlook" if prefix == "ENC:" else f"{lang} Outlook"
        add(
            f"forward-{lang}-{slug}",
            cat,
            lang,
            "invitation",
            raw,
            mid,
            f"{note} forward with subject prefix {prefix}",
            inv,
        )

    # Thunderbird, English and German (separator line and header table are localized).
    for lang, sep, labels, inv, target, sent in [
        (
            "en",
            "-------- Forwarded Message --------",
            ("Subject:", "Date:", "From:", "To:"),
            replace(base, to=colleague, date=when(2024, 4, 2, 9, 0, 0)),
            ANNA,
            "Tue, 2 Apr 2024 09:00:00 +0000",
        ),
        (
            "de",
            "-------- Weitergeleitete Nachricht --------",
            ("Betreff:", "Datum:", "Von:", "An:"),
            Invite(
                "de",
                "schreinerei-vogel.onmicrosoft.com",
                "Schreinerei Vogel KG",
                "ADMIN",
                Person("Klaus", "Klaus Vogel", "klaus@schreinerei-vogel.example"),
                Person("Uwe", "Uwe Brandt", "u.brandt@kanzlei-schneider.example"),
                when(2024, 4, 3, 9, 0, 0, 2),
            ),
            JONAS,
            "Wed, 3 Apr 2024 09:00:00 +0200",
        ),
    ]:
        fwd = Fwd(inv.to, target, inv.date + timedelta(minutes=20), "FYI", "Fwd:", sent_text=sent)
        body_html = inv.fragment().replace("</br>", "<br>\n")
        mid = f"<{_guid('tb-' + lang)}@{inv.to.addr.split('@')[1]}>"
        raw, _ = thunderbird_forward(
            inv.subject_line,
            inv.sender.header(),
            inv.to.header(),
            body_html,
            render_text_lines(inv.lines(), style="apple"),
            fwd,
            mid,
            separator=sep,
            labels=labels,
        )
        add(
            f"forward-thunderbird-{lang}",
            cat,
            lang,
            "invitation",
            raw,
            mid,
            f"Thunderbird inline forward ({sep.strip('- ')}), 8bit UTF-8",
            inv,
        )

    # Forwarded twice: Outlook FW: of a Gmail Fwd:.
    inv = replace(
        base,
        to=Person("Dan", "Dan Price", "dan.price@kestrel-analytics.example"),
        date=when(2023, 8, 1, 9, 0, 0),
    )
    fwd1 = Fwd(
        inv.to,
        colleague,
        when(2023, 8, 1, 9, 5, 0),
        "Rachel – for our accountants.",
        "Fwd:",
        sent_text="Tue, Aug 1, 2023 at 9:00 AM",
    )
    body_html, body_text = _inline_variants(inv, autolink=True)
    gm_mid = gmail_msgid("fwd-twice-inner")
    _, subj1 = gmail_forward(
        inv.subject_line,
        "Oliver Grant",
        inv.sender.addr,
        f"<{inv.to.addr}>",
        body_html,
        body_text,
        fwd1,
        gm_mid,
    )
    inner_html = (
        f'<div>{html.escape(fwd1.note)}</div><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>'
        'From: <strong class="gmail_sendername" dir="auto">Oliver Grant</strong> '
        f'<span dir="auto">&lt;{inv.sender.addr}&gt;</span><br>Date: {fwd1.sent_text}<br>'
        f"Subject: {inv.subject_line}<br>To: &lt;{inv.to.addr}&gt;<br></div><br><br>"
        f"{body_html}</div>"
    )
    inner_text = [
        fwd1.note,
        "",
        "---------- Forwarded message ---------",
        f"From: Oliver Grant <{inv.sender.addr}>",
        f"Date: {fwd1.sent_text}",
        f"Subject: {inv.subject_line}",
        f"To: <{inv.to.addr}>",
        "",
        "",
        *body_text,
    ]
    fwd2 = Fwd(
        colleague,
        ANNA,
        when(2023, 8, 1, 11, 0, 0),
        "Anna, please set up Kestrel.",
        "FW:",
        sent_text="Tuesday, August 1, 2023 9:05 AM",
    )
    mid = exo_msgid("fwd-twice-outer")
    raw, _ = outlook_desktop_forward(
        subj1, inv.to.header(), colleague.header(), inner_html, inner_text, fwd2, mid, "en"
    )
    add(
        "forward-twice-outlook-of-gmail",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "forwarded twice inline: Outlook FW: of a Gmail Fwd: (subject 'FW: Fwd: ...')",
        inv,
    )

    # Forwarded twice, both Outlook, hub era, "FW: FW:".
    inv = replace(hub, to=Person("Dan", "Dan Price", "dan.price@kestrel-analytics.example"))
    fwd1 = Fwd(
        inv.to,
        colleague,
        when(2019, 5, 6, 8, 30, 0, 1),
        "Rachel, FYI",
        "FW:",
        sent_text="06 May 2019 08:00",
    )
    body_html, body_text = _inline_variants(inv, autolink=True)
    first = (
        f'<p class="MsoNormal">{fwd1.note}</p><div><div style="border:none;border-top:solid '
        '#E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>From:</b> '
        f"{inv.sender.addr}<br><b>Sent:</b> {fwd1.sent_text}<br><b>To:</b> Dan Price "
        f"&lt;{inv.to.addr}&gt;<br><b>Subject:</b> {inv.subject_line}</p></div></div>"
        f'<p class="MsoNormal">{body_html}</p>'
    )
    first_text = [
        fwd1.note,
        "",
        f"From: {inv.sender.addr}",
        f"Sent: {fwd1.sent_text}",
        f"To: Dan Price <{inv.to.addr}>",
        f"Subject: {inv.subject_line}",
        "",
        *body_text,
    ]
    fwd2 = Fwd(
        colleague,
        ANNA,
        when(2019, 5, 6, 9, 0, 0, 1),
        "Anna – please add.",
        "FW:",
        sent_text="06 May 2019 08:30",
    )
    mid = exo_msgid("fwd-twice-outlook-hub")
    raw, _ = outlook_desktop_forward(
        f"FW: {inv.subject_line}",
        inv.to.header(),
        colleague.header(),
        first,
        first_text,
        fwd2,
        mid,
        "en",
    )
    add(
        "forward-twice-outlook-hub",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "forwarded twice inline by Outlook (FW: FW:), hub era",
        inv,
    )


def gen_attachments() -> None:
    cat = "forward-attachment"
    colleague = Person("Rachel", "Rachel Kim", "rachel.kim@brightledger.example")

    # OWA forward as attachment of a current-era email (base64 inner body).
    inv = Invite(
        "en",
        "contoso-bakery.onmicrosoft.com",
        "Contoso Bakery",
        "MAYA",
        CONTOSO_ADMIN,
        colleague,
        when(2023, 4, 3, 9, 0, 0),
    )
    inner_id = exo_msgid("att-owa-inner")
    inner = original(inv, inner_id, cte="base64")
    mid = exo_msgid("att-owa-outer")
    fwd = Fwd(colleague, ANNA, when(2023, 4, 3, 9, 30, 0), "See attached invitation.", "FW:")
    raw, _ = attach_forward(inner, inv.subject_line, fwd, mid)
    add(
        "attachment-owa-current",
        cat,
        "en",
        "invitation",
        raw,
        inner_id,
        "forward as attachment (message/rfc822); expected message_id is the inner one",
        inv,
    )

    # Gmail forward as attachment of a hub-era email (QP inner).
    inv = Invite(
        "en",
        "contoso-bakery.onmicrosoft.com",
        "Contoso Bakery",
        "MAYA",
        CONTOSO_ADMIN,
        colleague,
        when(2019, 8, 19, 9, 0, 0),
        hub_name="Contoso Bakery & Café",
    )
    inner_id = smtp_msgid("att-gmail-inner", "mail.contoso-bakery.example")
    inner = original(inv, inner_id, style="smtp")
    mid = gmail_msgid("att-gmail-outer")
    fwd = Fwd(colleague, ANNA, when(2019, 8, 19, 10, 0, 0), "Attached.", "Fwd:")
    raw, _ = attach_forward(inner, inv.subject_line, fwd, mid, client="gmail")
    add(
        "attachment-gmail-hub",
        cat,
        "en",
        "invitation",
        raw,
        inner_id,
        "Gmail forward as attachment of a hub-era email",
        inv,
    )

    # German, Exchange-converted Outlook item (.msg -> .eml), inner iso-8859-1.
    inv = Invite(
        "de",
        "schreinerei-vogel.onmicrosoft.com",
        "Schreinerei Vogel KG",
        "ADMIN",
        Person("Klaus", "Klaus Vogel", "klaus@schreinerei-vogel.example"),
        Person("Uwe", "Uwe Brandt", "u.brandt@kanzlei-schneider.example"),
        when(2022, 9, 14, 8, 0, 0, 2),
    )
    inner_id = exo_msgid("att-de-inner")
    inner = original(inv, inner_id, charset="iso-8859-1", mime="alternative")
    mid = exo_msgid("att-de-outer")
    fwd = Fwd(inv.to, JONAS, when(2022, 9, 14, 8, 45, 0, 2), "Anbei die Einladung.", "WG:")
    raw, _ = attach_forward(inner, inv.subject_line, fwd, mid)
    add(
        "attachment-de-wg-alternative",
        cat,
        "de",
        "invitation",
        raw,
        inner_id,
        "German forward as attachment, inner multipart/alternative iso-8859-1",
        inv,
    )

    # Attachment of an inline forward (forwarded twice): inner = the Outlook inline forward.
    inv = Invite(
        "en",
        "kestrel.onmicrosoft.com",
        "Kestrel Analytics Ltd",
        "OLIVER.GRANT",
        KESTREL_ADMIN,
        Person("Dan", "Dan Price", "dan.price@kestrel-analytics.example"),
        when(2023, 5, 2, 9, 0, 0),
    )
    fwd1 = Fwd(
        inv.to,
        colleague,
        when(2023, 5, 2, 9, 10, 0),
        "Rachel, FYI.",
        "FW:",
        sent_text="Tuesday, May 2, 2023 9:00 AM",
    )
    body_html, body_text = _inline_variants(inv, autolink=True)
    inner_id = exo_msgid("att-of-inline-inner")
    inner, subj1 = outlook_desktop_forward(
        inv.subject_line,
        inv.sender.header(),
        inv.to.header(),
        body_html,
        body_text,
        fwd1,
        inner_id,
        "en",
    )
    mid = exo_msgid("att-of-inline-outer")
    fwd2 = Fwd(colleague, ANNA, when(2023, 5, 2, 10, 0, 0), "Forwarding as attachment.", "FW:")
    raw, _ = attach_forward(inner, subj1, fwd2, mid)
    add(
        "attachment-of-inline-forward",
        cat,
        "en",
        "invitation",
        raw,
        inner_id,
        "forwarded twice: attachment containing an Outlook inline forward; message_id is the "
        "attached message's",
        inv,
    )

    # Attachment inside an attachment: innermost is the original.
    inv = Invite(
        "nl",
        "vandenbergzonen.onmicrosoft.com",
        "Van den Berg",
        "PIETER",
        VDBERG_ADMIN,
        Person("Joost", "Joost Smit", "joost@vandenberg-zonen.example"),
        when(2020, 2, 3, 9, 0, 0, 1),
        hub_name="Van den Berg & Zonen B.V.",
    )
    inner_id = smtp_msgid("att-att-inner", "mail.vandenberg-zonen.example")
    inner = original(inv, inner_id, style="smtp", cte="base64")
    mid1 = exo_msgid("att-att-middle")
    fwd1 = Fwd(
        inv.to,
        Person("Eva", "Eva Bakker", "eva@devries-accountants.example"),
        when(2020, 2, 3, 9, 20, 0, 1),
        "Zie bijlage.",
        "FW:",
    )
    middle, subj1 = attach_forward(inner, inv.subject_line, fwd1, mid1)
    mid = exo_msgid("att-att-outer")
    fwd2 = Fwd(fwd1.to, SANNE, when(2020, 2, 3, 10, 0, 0, 1), "Voor jou.", "FW:")
    raw, _ = attach_forward(middle, subj1, fwd2, mid)
    add(
        "attachment-of-attachment-nl-hub",
        cat,
        "nl",
        "invitation",
        raw,
        inner_id,
        "forwarded twice as attachment; message_id is the innermost original",
        inv,
    )


# --- wrappers ----------------------------------------------------------------------------------


def gen_wrappers() -> None:
    cat = "wrapper"
    hub = Invite(
        "en",
        "kestrel.onmicrosoft.com",
        "KESTREL UK",
        "OLIVER",
        KESTREL_ADMIN,
        ANNA,
        when(2019, 6, 3, 9, 0, 0, 1),
        hub_name="Kestrel Analytics Ltd",
    )
    cur = Invite(
        "en",
        "contoso-bakery.onmicrosoft.com",
        "Contoso Bakery",
        "MAYA",
        CONTOSO_ADMIN,
        ANNA,
        when(2023, 4, 3, 9, 0, 0),
    )

    def sl(region):
        return lambda u: safelinks(u, region)

    # Safe Links eur02 on a hub-era HTML email (hub and marketing hrefs wrapped).
    mid = smtp_msgid("wrap-sl-eur02", "mail.kestrel-analytics.example")
    add(
        "wrapper-safelinks-eur02-hub",
        cat,
        "en",
        "invitation",
        original(hub, mid, style="smtp", href_wrap=sl("eur02")),
        mid,
        "Safe Links (eur02) wrapped the hub and marketing hrefs; link 1 is plain text",
        hub,
    )

    # Safe Links nam12 on a multipart/alternative (text part wrapped too).
    inv = replace(
        hub,
        hub_name="O'Brien Joinery (Cork) Ltd",
        tenant="obrienjoinery.onmicrosoft.com",
        company="O'Brien Joinery",
        sender=OBRIEN_ADMIN,
        to=TOM,
    )
    mid = exo_msgid("wrap-sl-nam12")
    add(
        "wrapper-safelinks-nam12-alternative",
        cat,
        "en",
        "invitation",
        original(
            inv,
            mid,
            mime="alternative",
            href_wrap=lambda u: safelinks(u, "nam12", TOM.addr),
            text_wrap=lambda u: safelinks(u, "nam12", TOM.addr),
        ),
        mid,
        "Safe Links (nam12) in hrefs and in the text part (text URLs wrapped)",
        inv,
    )

    # Safe Links gbr01: Gmail forward where link 1's href is wrapped, text is the URL.
    colleague = Person("Rachel", "Rachel Kim", "rachel.kim@brightledger.example")
    inv = replace(cur, to=colleague)
    fwd = Fwd(
        colleague,
        ANNA,
        when(2023, 4, 3, 9, 31, 0),
        "Forwarding",
        "Fwd:",
        sent_text="Mon, Apr 3, 2023 at 10:00 AM",
    )
    body_html, body_text = _inline_variants(inv, autolink=True, wrap=sl("gbr01"), text_wrap=None)
    body_text = render_text_lines(inv.lines(), wrap=sl("gbr01"))
    mid = gmail_msgid("wrap-sl-gbr01")
    raw, _ = gmail_forward(
        inv.subject_line,
        "Maya Patel",
        inv.sender.addr,
        f"<{colleague.addr}>",
        body_html,
        body_text,
        fwd,
        mid,
    )
    add(
        "wrapper-safelinks-gbr01-gmail-forward",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Gmail forward through Safe Links (gbr01): hrefs and text-part URLs wrapped",
        inv,
    )

    # Safe Links apc01 in a plain-text-only forward: the visible URL itself is wrapped.
    inv = replace(cur, to=colleague, date=when(2023, 4, 4, 9, 0, 0, 10))
    fwd = Fwd(
        colleague,
        ANNA,
        when(2023, 4, 4, 9, 10, 0, 10),
        "FYI",
        "FW:",
        sent_text="Tuesday, 4 April 2023 9:00 AM",
    )
    mid = exo_msgid("wrap-sl-apc01")
    raw, _ = outlook_plain_forward(
        inv.subject_line,
        inv.sender.header(),
        colleague.header(),
        render_text_lines(inv.lines(), wrap=sl("apc01")),
        fwd,
        mid,
    )
    add(
        "wrapper-safelinks-apc01-text-only",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "plain-text forward through Safe Links (apc01): the only copy of link 1 is wrapped",
        inv,
    )

    # Safe Links aus01: Outlook forward that shows the wrapped URL as link text as well.
    inv = replace(
        hub,
        to=colleague,
        tenant="harbourlight.onmicrosoft.com",
        company="Harbourlight Marine",
        hub_name="Harbourlight Marine Supplies Ltd.",
        sender=HARBOUR_ADMIN,
    )
    fwd = Fwd(
        colleague,
        ANNA,
        when(2019, 6, 3, 9, 40, 0, 10),
        "Please add this client.",
        "FW:",
        sent_text="Monday, 3 June 2019 5:00 PM",
    )
    w = sl("aus01")
    body_html = render_html_lines(inv.lines(), autolink=True, wrap=w, text_wrap=w)
    body_text = render_text_lines(inv.lines(), wrap=w)
    mid = exo_msgid("wrap-sl-aus01")
    raw, _ = outlook_desktop_forward(
        inv.subject_line, inv.sender.addr, colleague.header(), body_html, body_text, fwd, mid, "en"
    )
    add(
        "wrapper-safelinks-aus01-visible-wrapped",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Outlook forward through Safe Links (aus01); link text is the wrapped URL too",
        inv,
    )

    # Proofpoint v1 in a plain-text forward.
    inv = replace(cur, to=colleague, date=when(2016, 12, 1, 9, 0, 0, -5))
    inv = replace(
        inv,
        tenant="mapleridge.onmicrosoft.com",
        company="Maple Ridge Farms",
        sender=Person("Ed", "Ed Stone", "ed@mapleridge.example"),
    )
    fwd = Fwd(
        colleague,
        TOM,
        when(2023, 1, 10, 9, 10, 0, -5),
        "Tom - FYI",
        "FW:",
        sent_text="Tuesday, January 10, 2023 9:00 AM",
    )
    mid = exo_msgid("wrap-pp-v1")
    raw, _ = outlook_plain_forward(
        inv.subject_line,
        inv.sender.header(),
        colleague.header(),
        render_text_lines(inv.lines(), wrap=proofpoint_v1),
        fwd,
        mid,
    )
    add(
        "wrapper-proofpoint-v1-text",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "plain-text forward through Proofpoint URL Defense v1",
        inv,
    )

    # Proofpoint v2 on a hub-era HTML email.
    inv = replace(
        hub,
        tenant="riverstone.onmicrosoft.com",
        company="Riverstone",
        hub_name="Riverstone Landscaping_Co-op",
        to=TOM,
        sender=Person("Nia", "Nia Evans", "nia@riverstone.example"),
    )
    mid = smtp_msgid("wrap-pp-v2", "mail.riverstone.example")
    add(
        "wrapper-proofpoint-v2-hub",
        cat,
        "en",
        "invitation",
        original(inv, mid, style="smtp", href_wrap=proofpoint_v2),
        mid,
        "Proofpoint v2 wrapped the hub href ('-' and '_' in the name exercise -2D/-5F)",
        inv,
    )

    # Proofpoint v2 in a plain-text forward (link 1).
    inv = replace(
        cur,
        to=colleague,
        tenant="north-east_trading.onmicrosoft.com",
        company="North-East Trading",
        sender=Person("Al", "Al Reed", "al@netrading.example"),
    )
    inv = replace(inv, tenant="north-east-trading.onmicrosoft.com")
    fwd = Fwd(
        colleague,
        TOM,
        when(2023, 5, 10, 9, 10, 0, -4),
        "FYI",
        "FW:",
        sent_text="Wednesday, May 10, 2023 9:00 AM",
    )
    mid = exo_msgid("wrap-pp-v2-text")
    raw, _ = outlook_plain_forward(
        inv.subject_line,
        inv.sender.header(),
        colleague.header(),
        render_text_lines(inv.lines(), wrap=proofpoint_v2),
        fwd,
        mid,
    )
    add(
        "wrapper-proofpoint-v2-text",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "plain-text forward through Proofpoint v2; link 1 only wrapped",
        inv,
    )

    # Proofpoint v3 on a hub-era HTML email, with '*' substitutions and '**X' runs.
    inv = replace(
        hub,
        tenant="damico-oil.onmicrosoft.com",
        company="Oleificio D'Amico",
        hub_name="Oleificio D'Amico S.r.l.",
        lang="it",
        to=GIULIA,
        sender=DAMICO_ADMIN,
    )
    mid = smtp_msgid("wrap-pp-v3", "mail.oleificio-damico.example")
    add(
        "wrapper-proofpoint-v3-hub-substitutions",
        cat,
        "it",
        "invitation",
        original(inv, mid, style="smtp", href_wrap=lambda u: proofpoint_v3(u, substitute="%'")),
        mid,
        "Proofpoint v3 on the hub href: '%' and quotes replaced by '*' and '**X' runs",
        inv,
    )

    # Proofpoint v3 on link 1 in a Gmail forward (no substitution: __;!!).
    inv = replace(
        cur,
        to=colleague,
        tenant="bluefinch.onmicrosoft.com",
        company="Bluefinch Design Studio",
        sender=Person("Iris", "Iris Cole", "iris@bluefinch.example"),
    )
    fwd = Fwd(
        colleague,
        TOM,
        when(2023, 9, 1, 9, 10, 0, -4),
        "fyi",
        "Fwd:",
        sent_text="Fri, Sep 1, 2023 at 9:00 AM",
    )
    body_html, _ = _inline_variants(inv, autolink=True, wrap=proofpoint_v3, text_wrap=proofpoint_v3)
    body_text = render_text_lines(inv.lines(), wrap=proofpoint_v3)
    mid = gmail_msgid("wrap-pp-v3-gmail")
    raw, _ = gmail_forward(
        inv.subject_line,
        "Iris Cole",
        inv.sender.addr,
        f"<{colleague.addr}>",
        body_html,
        body_text,
        fwd,
        mid,
    )
    add(
        "wrapper-proofpoint-v3-link1",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Gmail forward through Proofpoint v3 (link text and href wrapped, no substitutions)",
        inv,
    )

    # Safe Links wrapping Proofpoint v2 (hub-era HTML email).
    inv = replace(
        hub,
        tenant="contoso-bakery.onmicrosoft.com",
        company="Contoso Bakery",
        hub_name="Contoso Bakery & Café",
        sender=CONTOSO_ADMIN,
    )
    mid = smtp_msgid("wrap-sl-pp", "mail.contoso-bakery.example")
    add(
        "wrapper-safelinks-of-proofpoint-v2-hub",
        cat,
        "en",
        "invitation",
        original(inv, mid, style="smtp", href_wrap=lambda u: safelinks(proofpoint_v2(u), "eur03")),
        mid,
        "Safe Links (eur03) wrapping Proofpoint v2 on the hub href",
        inv,
    )

    # Safe Links wrapping Proofpoint v2 in a plain-text forward (link 1 double-wrapped).
    inv = replace(cur, to=colleague, date=when(2023, 6, 6, 9, 0, 0))
    fwd = Fwd(
        colleague,
        ANNA,
        when(2023, 6, 6, 9, 10, 0),
        "FYI",
        "FW:",
        sent_text="Tuesday, June 6, 2023 9:00 AM",
    )
    mid = exo_msgid("wrap-sl-pp-text")
    raw, _ = outlook_plain_forward(
        inv.subject_line,
        inv.sender.header(),
        colleague.header(),
        render_text_lines(inv.lines(), wrap=lambda u: safelinks(proofpoint_v2(u), "nam11")),
        fwd,
        mid,
    )
    add(
        "wrapper-safelinks-of-proofpoint-v2-text",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "plain-text forward; link 1 wrapped by Proofpoint v2 then Safe Links (nam11)",
        inv,
    )

    # Proofpoint v3 wrapping Safe Links (the '%' of the Safe Links URL become '*').
    inv = replace(cur, to=colleague, date=when(2023, 6, 7, 9, 0, 0))
    fwd = Fwd(
        colleague,
        TOM,
        when(2023, 6, 7, 9, 10, 0, -4),
        "FYI",
        "FW:",
        sent_text="Wednesday, June 7, 2023 9:00 AM",
    )
    mid = exo_msgid("wrap-pp3-sl-text")
    raw, _ = outlook_plain_forward(
        inv.subject_line,
        inv.sender.header(),
        colleague.header(),
        render_text_lines(inv.lines(), wrap=lambda u: proofpoint_v3(safelinks(u, "eur02"))),
        fwd,
        mid,
    )
    add(
        "wrapper-proofpoint-v3-of-safelinks-text",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "plain-text forward; link 1 wrapped by Safe Links then Proofpoint v3 ('%' -> '*')",
        inv,
    )

    # Mimecast, Gmail forward: href wrapped, visible text is link 1.
    inv = replace(
        cur,
        to=colleague,
        tenant="greenvale.onmicrosoft.com",
        company="Greenvale Organics Ltd",
        sender=Person("Tess", "Tess Hale", "tess@greenvale.example"),
    )
    fwd = Fwd(
        colleague,
        ANNA,
        when(2023, 7, 7, 9, 10, 0, 1),
        "FYI",
        "Fwd:",
        sent_text="Fri, Jul 7, 2023 at 9:00 AM",
    )
    body_html = render_html_lines(inv.lines(), autolink=True, wrap=mimecast)
    body_text = render_text_lines(inv.lines(), style="gmail")
    mid = gmail_msgid("wrap-mimecast-visible")
    raw, _ = gmail_forward(
        inv.subject_line,
        "Tess Hale",
        inv.sender.addr,
        f"<{colleague.addr}>",
        body_html,
        body_text,
        fwd,
        mid,
    )
    add(
        "wrapper-mimecast-visible-text",
        cat,
        "en",
        "invitation",
        raw,
        mid,
        "Mimecast wrapped the href; link 1 recovered from the visible anchor text",
        inv,
    )

    # Mimecast on an original HTML email: link 1 is plain text and is left alone.
    inv = replace(
        cur,
        tenant="greenvale.onmicrosoft.com",
        company="Greenvale Organics Ltd",
        sender=Person("Tess", "Tess Hale", "tess@greenvale.example"),
        date=when(2023, 7, 10, 9, 0, 0, 1),
        welcome='Hi Anna,\n\nHere is the access, as promised. The <a href="'
        + mimecast("https://greenvale.example/handover-notes")
        + '">handover notes</a> '
        "are on our site.\n\nBest Regards,\nTess Hale\nGreenvale Organics Ltd",
    )
    mid = exo_msgid("wrap-mimecast-original")
    add(
        "wrapper-mimecast-original-plain-link",
        cat,
        "en",
        "invitation",
        original(inv, mid),
        mid,
        "Mimecast gateway: other links rewritten, plain-text link 1 untouched",
        inv,
    )


# --- needs_review --------------------------------------------------------------------------------


def gen_review() -> None:
    cat = "review"
    colleague = Person("Rachel", "Rachel Kim", "rachel.kim@brightledger.example")
    cur = Invite(
        "en",
        "greenvale.onmicrosoft.com",
        "Greenvale Organics Ltd",
        "TESS",
        Person("Tess", "Tess Hale", "tess@greenvale.example"),
        colleague,
        when(2023, 7, 7, 9, 0, 0, 1),
    )

    # Plain-text forward through Mimecast: the only copy of link 1 is rewritten.
    fwd = Fwd(
        colleague,
        ANNA,
        when(2023, 7, 7, 9, 20, 0, 1),
        "FYI",
        "Fwd:",
        sent_text="7 July 2023 at 09:00:00 BST",
    )
    mid = apple_msgid("review-mimecast-text", "brightledger.example")
    raw, _ = apple_text_forward(
        cur.subject_line,
        cur.sender.header(),
        colleague.header(),
        render_text_lines(cur.lines(), wrap=mimecast, style="apple"),
        fwd,
        mid,
    )
    add(
        "review-mimecast-text-only",
        cat,
        "en",
        "needs_review",
        raw,
        mid,
        "plain-text forward through Mimecast: link 1 not recoverable offline",
        None,
    )

    # Forwarder turned the link into "here"; Mimecast wrapped the href.
    fwd = Fwd(
        colleague,
        ANNA,
        when(2023, 7, 8, 9, 20, 0, 1),
        "Invitation below.",
        "FW:",
        sent_text="Friday, July 7, 2023 9:00 AM",
    )
    body_html = render_html_lines(cur.lines(), wrap=lambda u: mimecast(u, "uk"), hide_link1="here")
    body_text = [
        line.replace(cur.access_link, "here<" + mimecast(cur.access_link, "uk") + ">")
        for line in render_text_lines(cur.lines())
    ]
    mid = exo_msgid("review-mimecast-here")
    raw, _ = owa_forward(
        cur.subject_line,
        cur.sender.header(),
        colleague.header(),
        body_html,
        body_text,
        fwd,
        mid,
        "en",
    )
    add(
        "review-mimecast-here-link",
        cat,
        "en",
        "needs_review",
        raw,
        mid,
        "link 1 shown only as 'here' with a Mimecast href: no visible URL",
        None,
    )

    # Mimecast without domain=.
    fwd = Fwd(
        colleague,
        ANNA,
        when(2023, 7, 9, 9, 20, 0, 1),
        "fyi",
        "FW:",
        sent_text="Friday, July 7, 2023 9:00 AM",
    )
    mid = exo_msgid("review-mimecast-nodomain")
    raw, _ = outlook_plain_forward(
        cur.subject_line,
        cur.sender.header(),
        colleague.header(),
        render_text_lines(cur.lines(), wrap=lambda u: mimecast(u, "us", with_domain=False)),
        fwd,
        mid,
    )
    add(
        "review-mimecast-no-domain-text",
        cat,
        "en",
        "needs_review",
        raw,
        mid,
        "plain-text forward through Mimecast without domain=: nothing visible",
        None,
    )

    # Microsoft B2B guest invitations (not from the wizard).
    for lang, subject, heading, button, org, invitee, admin in [
        (
            "en",
            "Oliver Grant invited you to access applications within their organization",
            "Please only act on this email if you trust the individual and organization "
            "represented below.",
            "Accept invitation",
            "Kestrel Analytics Ltd",
            ANNA,
            KESTREL_ADMIN,
        ),
        (
            "de",
            "Petra Müller hat Sie zum Zugriff auf Anwendungen in ihrer Organisation eingeladen",
            "Reagieren Sie nur auf diese E-Mail, wenn Sie der unten angegebenen "
            "Person und Organisation vertrauen.",
            "Einladung annehmen",
            "Bäckerei Müller GmbH",
            JONAS,
            MUELLER_ADMIN,
        ),
    ]:
        tenant_guid = _guid("b2b-tenant" + org)
        redeem = (
            "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com"
            f"%2fredeem%2f%3ftenant%3d{tenant_guid}%26user%3d{_guid('b2b-user' + org)}%26ticket%3d"
            f"{_b64token('ticket' + org, 60)}%253d%26ver%3d2.0"
        )
        doc = (
            '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
            '</head><body><table role="presentation" width="100%"><tr><td>'
            f'<p style="font-size:14px">{html.escape(heading)}</p>'
            f"<p><b>{html.escape(admin.name)}</b><br>{html.escape(admin.addr)}<br>"
            f"{html.escape(org)}<br>{html.escape(org.split()[0].lower())}.onmicrosoft.com</p>"
            f'<p><a href="{html.escape(redeem)}" style="background:#0078d4;color:#fff;'
            f'padding:8px 16px">{html.escape(button)}</a></p>'
            '<p style="font-size:12px">Block future invitations from this organization: '
            '<a href="https://invitations.microsoft.com/blockinvitations?tenantId='
            f'{tenant_guid}">Block</a></p>'
            '<p style="font-size:12px">This invitation email is from '
            f"{html.escape(org)} ({html.escape(admin.addr)}) and may include advertising "
            "content. Microsoft Corporation, One Microsoft Way, Redmond, WA 98052.</p>"
            '<p><a href="https://go.microsoft.com/fwlink/?LinkId=521839">Privacy '
            "Statement</a></p></td></tr></table></body></html>\n"
        )
        text = f"{heading}\n\n{admin.name}\n{admin.addr}\n{org}\n\n{button}: {redeem}\n"
        root = multipart(
            "alternative", [leaf("plain", text), leaf("html", doc)], _boundary("b2b" + lang, "alt")
        )
        mid = exo_msgid("b2b-" + lang)
        frm = formataddr((f"{org} via Microsoft", "invites@microsoft.com"), charset="utf-8")
        top = exo_top(
            frm,
            invitee.header(),
            subject,
            when(2023, 8, 8, 9, 0, 0),
            mid,
            _lang_tag(lang),
            extra=[
                ("Reply-To", admin.header()),
                ("X-MS-Exchange-Organization-AuthAs", "Anonymous"),
            ],
        )
        add(
            f"review-b2b-guest-invitation-{lang}",
            cat,
            lang,
            "needs_review",
            message(top, root),
            mid,
            "Microsoft Entra B2B guest invitation (invites@microsoft.com, redeem link); no "
            "Business Central link",
            None,
        )


# --- negatives -----------------------------------------------------------------------------------


def gen_negatives() -> None:
    cat = "negative"
    base = Invite(
        "en",
        "kestrel.onmicrosoft.com",
        "Kestrel Analytics Ltd",
        "OLIVER.GRANT",
        KESTREL_ADMIN,
        ANNA,
        when(2023, 3, 14),
    )
    orig_id = exo_msgid("current-en-kestrel")

    # Replies quoting the invitation.
    for lang, prefix, labels, note, who in [
        (
            "en",
            "RE:",
            ("From:", "Sent:", "To:", "Subject:"),
            "Thanks Oliver, I've accepted the invitation and can see your company now.",
            ANNA,
        ),
        (
            "de",
            "AW:",
            ("Von:", "Gesendet:", "An:", "Betreff:"),
            "Danke, ich habe Zugriff. Viele Grüße, Jonas",
            JONAS,
        ),
        ("sv", "SV:", ("Från:", "Skickat:", "Till:", "Ämne:"), "Tack! Jag har loggat in nu.", ERIK),
    ]:
        inv = replace(base, lang=lang, to=who) if lang != "en" else base
        body_html, body_text = _inline_variants(inv, autolink=True)
        reply_id = exo_msgid(f"reply-{lang}")
        iid = orig_id if lang == "en" else exo_msgid(f"reply-orig-{lang}")
        fwd = Fwd(
            who,
            KESTREL_ADMIN,
            when(2023, 3, 14, 11, 0, 0),
            note,
            prefix,
            labels,
            "Tuesday, March 14, 2023 9:12 AM",
        )
        raw, _ = outlook_desktop_forward(
            inv.subject_line,
            inv.sender.header(),
            who.header(),
            body_html,
            body_text,
            fwd,
            reply_id,
            lang,
        )
        raw = raw.replace(
            b"\r\nDate: ",
            f"\r\nIn-Reply-To: {iid}\r\nReferences: {iid}\r\nDate: ".encode("ascii"),
            1,
        )
        add(
            f"negative-reply-{lang}-{prefix.rstrip(':').lower()}",
            cat,
            lang,
            "not_invitation",
            raw,
            reply_id,
            f"reply ({prefix}) with In-Reply-To quoting the invitation",
            None,
        )

    # Gmail reply with "On ... wrote:" blockquote.
    inv = base
    reply_id = gmail_msgid("reply-gmail")
    quoted = render_html_lines(inv.lines(), autolink=True)
    doc = (
        '<div dir="ltr">Got it, thanks! I will log in tomorrow.</div><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">On Tue, Mar 14, 2023 at 9:12 AM Oliver Grant &lt;'
        f'{KESTREL_ADMIN.addr}&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:'
        f'0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">{quoted}'
        "</blockquote></div>\n"
    )
    text = "Got it, thanks! I will log in tomorrow.\n\nOn Tue, Mar 14, 2023 at 9:12 AM Oliver "
    text += f"Grant <{KESTREL_ADMIN.addr}> wrote:\n\n"
    text += "\n".join("> " + line if line else ">" for line in render_text_lines(inv.lines()))
    root = multipart(
        "alternative", [leaf("plain", text + "\n"), leaf("html", doc)], _boundary(reply_id, "gmail")
    )
    top = simple_top(
        ANNA.header(),
        KESTREL_ADMIN.header(),
        "Re: " + inv.subject_line,
        when(2023, 3, 14, 12, 0, 0),
        reply_id,
        extra=[("In-Reply-To", orig_id), ("References", orig_id)],
    )
    add(
        "negative-reply-gmail-en",
        cat,
        "en",
        "not_invitation",
        message(top, root),
        reply_id,
        "Gmail reply (Re:) quoting the invitation in a blockquote",
        None,
    )

    # Delivery status notifications.
    inner = original(base, orig_id)
    dsn_id = exo_msgid("dsn-1")
    human = (
        "Your message to anna.berg@brightledger.example couldn't be delivered.\n\n"
        "anna.berg wasn't found at brightledger.example.\n\n"
        "Remote server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not "
        "found by SMTP address lookup'\n"
    )
    status = (
        "Reporting-MTA: dns;AM9PR02MB7227.eurprd02.prod.outlook.com\n"
        "Received-From-MTA: dns;AM9PR02MB7227.eurprd02.prod.outlook.com\n"
        "Arrival-Date: Tue, 14 Mar 2023 09:12:44 +0000\n\n"
        "Final-Recipient: rfc822;anna.berg@brightledger.example\nAction: failed\n"
        "Status: 5.1.10\nDiagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
        "Recipient not found by SMTP address lookup\n"
    )
    root = multipart(
        "report",
        [
            leaf("plain", human, cte="7bit", charset="us-ascii"),
            leaf("delivery-status", status, charset=None, cte="7bit", main="message"),
            rfc822(inner, disposition="inline"),
        ],
        _boundary(dsn_id, "report"),
        params="; report-type=delivery-status",
    )
    top = exo_top(
        "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@"
        "kestrel-analytics.example>",
        KESTREL_ADMIN.header(),
        "Undeliverable: " + base.subject_line,
        when(2023, 3, 14, 9, 13, 0),
        dsn_id,
        extra=[("Auto-Submitted", "auto-replied"), ("X-MS-Exchange-Message-Is-Ndr", "")],
    )
    add(
        "negative-dsn-message-rfc822",
        cat,
        "en",
        "not_invitation",
        message(top, root),
        dsn_id,
        "non-delivery report (multipart/report) containing the invitation as message/rfc822",
        None,
    )

    dsn_id = smtp_msgid("dsn-2", "mx.brightledger.example")
    headers_only = inner.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\n"
    root = multipart(
        "report",
        [
            leaf(
                "plain",
                "This is the mail system at host mx.brightledger.example.\n\n"
                "I'm sorry to have to inform you that your message could not\nbe delivered to "
                "one or more recipients.\n\n<anna.berg@brightledger.example>: mailbox full\n",
                cte="7bit",
                charset="us-ascii",
            ),
            leaf(
                "delivery-status",
                "Reporting-MTA: dns; mx.brightledger.example\n\n"
                "Final-Recipient: rfc822; anna.berg@brightledger.example\nAction: failed\n"
                "Status: 5.2.2\nDiagnostic-Code: x-unix; mailbox full\n",
                charset=None,
                cte="7bit",
                main="message",
            ),
            leaf("rfc822-headers", headers_only, charset=None, cte="7bit"),
        ],
        _boundary(dsn_id, "report"),
        params="; report-type=delivery-status",
    )
    top = simple_top(
        "MAILER-DAEMON@mx.brightledger.example (Mail Delivery System)",
        KESTREL_ADMIN.addr,
        "Undelivered Mail Returned to Sender",
        when(2023, 3, 14, 9, 13, 5),
        dsn_id,
        extra=[("Auto-Submitted", "auto-replied")],
    )
    add(
        "negative-dsn-rfc822-headers",
        cat,
        "en",
        "not_invitation",
        message(top, root),
        dsn_id,
        "bounce (multipart/report) with text/rfc822-headers of the invitation",
        None,
    )

    # Auto-replies.
    ooo_id = exo_msgid("ooo-en")
    quoted_html = render_html_lines(base.lines(), autolink=False)
    doc = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head><body><p>I'm out of the office until 20 March with limited access to email. "
        "For urgent matters please contact office@brightledger.example.</p><hr>"
        f"<p><b>From:</b> Oliver Grant<br><b>Subject:</b> {base.subject_line}</p>"
        f"<div>{quoted_html}</div></body></html>\n"
    )
    top = exo_top(
        ANNA.header(),
        KESTREL_ADMIN.header(),
        "Automatic reply: " + base.subject_line,
        when(2023, 3, 14, 9, 12, 50),
        ooo_id,
        extra=[
            ("In-Reply-To", orig_id),
            ("References", orig_id),
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
            ("X-MS-Exchange-Inbox-Rules-Loop", ANNA.addr),
        ],
    )
    add(
        "negative-auto-reply-en",
        cat,
        "en",
        "not_invitation",
        message(top, leaf("html", doc)),
        ooo_id,
        "out-of-office auto-reply (Auto-Submitted) quoting the invitation",
        None,
    )

    inv = Invite(
        "de",
        "baeckerei-mueller.onmicrosoft.com",
        "Bäckerei Müller GmbH",
        "PETRA.MUELLER",
        MUELLER_ADMIN,
        JONAS,
        when(2023, 2, 1, 7, 58, 31, 1),
    )
    ooo_id = exo_msgid("ooo-de")
    text = (
        "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 10.02. nicht im Büro.\n\n"
        "-----Ursprüngliche Nachricht-----\n"
        f"Von: {MUELLER_ADMIN.name} <{MUELLER_ADMIN.addr}>\nBetreff: {inv.subject_line}\n\n"
        + "\n".join(render_text_lines(inv.lines()))
        + "\n"
    )
    top = exo_top(
        JONAS.header(),
        MUELLER_ADMIN.header(),
        "Automatische Antwort: " + inv.subject_line,
        when(2023, 2, 1, 7, 58, 40, 1),
        ooo_id,
        "de-DE",
        extra=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
    )
    add(
        "negative-auto-reply-de-abwesenheit",
        cat,
        "de",
        "not_invitation",
        message(top, leaf("plain", text)),
        ooo_id,
        "German out-of-office (Auto-Submitted) quoting the invitation in plain text",
        None,
    )

    # Other Business Central notifications.
    bc = "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com/Production"
    notes = [
        (
            "approval",
            "en",
            "Approval request for Purchase Order 106001",
            "<p>Hello Anna,</p><p>Oliver Grant requests your approval of Purchase Order 106001 "
            '(Amount: 12,480.00 GBP).</p><p><a href="'
            f"{bc}/?company=KESTREL%20UK&amp;page=50&amp;dc=0&amp;bookmark=21_kAAAAAJ7BjEAMAA2AD"
            'AAMAAx">Open the document in Business Central</a></p><p><a href="'
            f'{bc}/?company=KESTREL%20UK&amp;page=654">Go to your requests to approve</a></p>',
        ),
        (
            "trial",
            "en",
            "Your Business Central trial is ending in 5 days",
            "<p>Your trial of Dynamics 365 Business Central for kestrel.onmicrosoft.com ends on "
            'March 19, 2023.</p><p>To keep your data, <a href="https://businesscentral.dynamics'
            '.com/kestrel.onmicrosoft.com/?company=CRONUS%20UK%20Ltd.&amp;page=2510">subscribe now'
            '</a> or contact your partner.</p><p><a href="https://dynamics.microsoft.com/en-us/'
            'business-central/pricing/">See pricing</a></p>',
        ),
        (
            "update",
            "en",
            "Business Central: update 23.5 is available for environment Production",
            "<p>An update is available for your environment <b>Production</b> "
            '(kestrel.onmicrosoft.com).</p><p>Schedule the update in the <a href="https://'
            'businesscentral.dynamics.com/kestrel.onmicrosoft.com/admin">Business Central admin '
            "center</a>.</p>",
        ),
        (
            "doc-de",
            "de",
            "Verkaufsrechnung 103045 von Bäckerei Müller GmbH",
            "<p>Sehr geehrte Damen und Herren,</p><p>anbei erhalten Sie die Rechnung 103045.</p>"
            '<p><a href="https://businesscentral.dynamics.com/baeckerei-mueller.onmicrosoft.com/'
            "Production/?company=B%C3%A4ckerei%20M%C3%BCller&amp;page=132&amp;filter='No.' IS "
            "'103045'\">Rechnung in Business Central öffnen</a></p><p>Mit freundlichen Grüßen<br>"
            "Bäckerei Müller GmbH</p>",
        ),
    ]
    for slug, lang, subject, doc in notes:
        nid = exo_msgid("bc-" + slug)
        top = exo_top(
            KESTREL_ADMIN.header() if slug != "doc-de" else MUELLER_ADMIN.header(),
            ANNA.header() if lang == "en" else JONAS.header(),
            subject,
            when(2023, 3, 15, 8, 0, 0),
            nid,
            _lang_tag(lang),
        )
        add(
            f"negative-bc-{slug}",
            cat,
            lang,
            "not_invitation",
            message(top, leaf("html", doc)),
            nid,
            "other Business Central email with businesscentral.dynamics.com links",
            None,
        )

    # Newsletters.
    nid = smtp_msgid("newsletter-1", "news.brightledger-partners.example")
    doc = (
        "<html><body><h1>What's new in Dynamics 365 Business Central 2024 release wave 1</h1>"
        "<p>You have been invited to our free webinar for accountants working with Business "
        'Central.</p><p><a href="https://dynamics.microsoft.com/en-us/business-central/'
        'accountants">Business Central for accountants</a> | <a href="https://dynamics.'
        'microsoft.com/en-us/business-central/overview/">Overview</a></p><p><a href="https://'
        'news.brightledger-partners.example/unsubscribe?u=8812">Unsubscribe</a></p>'
        "</body></html>\n"
    )
    top = simple_top(
        "Partner News <news@brightledger-partners.example>",
        ANNA.header(),
        "Webinar: You have been invited to explore Dynamics 365 Business Central",
        when(2024, 3, 1, 6, 0, 0),
        nid,
        extra=[
            ("List-Id", "<partner-news.brightledger-partners.example>"),
            ("List-Unsubscribe", "<https://news.brightledger-partners.example/unsubscribe?u=8812>"),
            ("Precedence", "bulk"),
        ],
    )
    add(
        "negative-newsletter-en",
        cat,
        "en",
        "not_invitation",
        message(top, leaf("html", doc)),
        nid,
        "newsletter mentioning Business Central, links to dynamics.microsoft.com",
        None,
    )

    nid = smtp_msgid("newsletter-2", "mail.steuerberater-news.example")
    doc = (
        "<html><body><p>Neu in Business Central: Accountant Hub und Company Hub im Überblick."
        '</p><p><a href="https://dynamics.microsoft.com/de-de/business-central/overview/">'
        'Mehr erfahren</a></p><p><a href="https://learn.microsoft.com/de-de/dynamics365/'
        'business-central/finance-accounting">Dokumentation</a></p></body></html>\n'
    )
    top = simple_top(
        "Steuerberater-News <info@steuerberater-news.example>",
        JONAS.header(),
        "Newsletter 03/2024: Business Central für Kanzleien",
        when(2024, 3, 5, 6, 0, 0, 1),
        nid,
        extra=[
            ("List-Unsubscribe", "<mailto:unsubscribe@steuerberater-news.example>"),
            ("Precedence", "bulk"),
        ],
    )
    add(
        "negative-newsletter-de",
        cat,
        "de",
        "not_invitation",
        message(top, leaf("html", doc)),
        nid,
        "German newsletter about Business Central",
        None,
    )

    # Invitations from other products.
    others = [
        (
            "teams",
            "en",
            "Oliver Grant has added you as a guest to Kestrel Analytics Ltd in Microsoft Teams",
            "Microsoft Teams <noreply@email.teams.microsoft.com>",
            '<p>Oliver Grant has invited you to join the team <b>Year-end 2023</b>.</p><p><a href="'
            "https://teams.microsoft.com/l/team/19%3aabc123%40thread.tacv2/conversations?groupId="
            "5b1c0f7e-7a0a-4b7e-9a53-2f3c9d1b7e11&amp;tenantId=" + GUID_TENANT + '">Open Microsoft '
            "Teams</a></p>",
        ),
        (
            "sharepoint",
            "en",
            'Oliver Grant shared the folder "Year-end 2023" with you',
            "Oliver Grant <no-reply@sharepointonline.com>",
            "<p>Here's the folder that Oliver Grant shared with you.</p><p><a href=\"https://"
            'kestrel.sharepoint.com/:f:/s/Finance/EhQk3d?e=5%3aXa1b2C">Year-end 2023</a></p>',
        ),
        (
            "powerbi",
            "en",
            "Oliver Grant shared a Power BI report with you",
            "Microsoft Power BI <no-reply-powerbi@microsoft.com>",
            '<p>Oliver Grant shared <b>Business Central Finance KPIs</b> with you.</p><p><a href="'
            'https://app.powerbi.com/groups/me/reports/1a2b3c4d-0000-4e5f-8a9b-0c1d2e3f4a5b">'
            "Open this report</a></p>",
        ),
        (
            "xero",
            "en",
            "You have been invited to Kestrel Analytics Ltd on Xero",
            "Xero <messaging-service@post.xero.com>",
            "<p>Hi Anna,</p><p>Oliver Grant has invited you to access Kestrel Analytics Ltd on "
            'Xero as an adviser.</p><p><a href="https://login.xero.com/identity/user/invitation/'
            'accept?code=7d3e9f">Accept invitation</a></p>',
        ),
        (
            "quickbooks",
            "en",
            "You're invited to be the accountant for Kestrel Analytics Ltd",
            "QuickBooks <do-not-reply@quickbooks.example>",
            "<p>Oliver Grant invited you to be their accountant in QuickBooks Online.</p><p><a "
            'href="https://accounts.intuit.com/app/invitation/accept?token=ab12cd">Accept '
            "invitation</a></p>",
        ),
        (
            "xero-fr",
            "fr",
            "Vous avez été invité à Fromagerie Dupré sur Xero",
            "Xero <messaging-service@post.xero.com>",
            "<p>Bonjour Claire,</p><p>Hélène Dupré vous invite à accéder à Fromagerie Dupré sur "
            'Xero.</p><p><a href="https://login.xero.com/identity/user/invitation/accept?code='
            "f00d\">Accepter l'invitation</a></p>",
        ),
    ]
    for slug, lang, subject, frm, doc in others:
        oid = exo_msgid("other-" + slug)
        to = ANNA if lang == "en" else CLAIRE
        top = exo_top(frm, to.header(), subject, when(2023, 5, 5, 10, 0, 0), oid, _lang_tag(lang))
        add(
            f"negative-other-product-{slug}",
            cat,
            lang,
            "not_invitation",
            message(top, leaf("html", doc)),
            oid,
            f"invitation from another product ({slug})",
            None,
        )


# --- look-alikes ----------------------------------------------------------------------------------


def gen_lookalikes() -> None:
    cat = "lookalike"
    kestrel = "kestrel.onmicrosoft.com"
    cyr_host = "businesscentr\u0430l.dynamics.com"
    cyr_puny = cyr_host.encode("idna").decode("ascii")
    cases = [
        (
            "evil-suffix",
            f"https://businesscentral.dynamics.com.evil.example/{kestrel}?redirectedfromsignup=1",
            "businesscentral.dynamics.com.evil.example",
            False,
        ),
        (
            "dynamlcs",
            f"https://businesscentral.dynamlcs.com/{kestrel}?redirectedfromsignup=1",
            "businesscentral.dynamlcs.com",
            False,
        ),
        (
            "financials-dash",
            "https://kestrel.financials-dynamics.com",
            "financials-dynamics.com",
            False,
        ),
        ("idn-cyrillic", f"https://{cyr_host}/{kestrel}?redirectedfromsignup=1", "punycode", False),
        ("punycode-xn", f"https://{cyr_puny}/{kestrel}?redirectedfromsignup=1", "punycode", True),
        (
            "ip-literal",
            f"https://20.50.64.12/{kestrel}?redirectedfromsignup=1",
            "IP address",
            False,
        ),
        (
            "http-scheme",
            f"http://businesscentral.dynamics.com/{kestrel}?redirectedfromsignup=1",
            "https",
            False,
        ),
        (
            "userinfo",
            f"https://user@businesscentral.dynamics.com/{kestrel}?redirectedfromsignup=1",
            "user-info",
            False,
        ),
        (
            "userinfo-host",
            f"https://businesscentral.dynamics.com@evil.example/{kestrel}?redirectedfromsignup=1",
            "user-info",
            True,
        ),
        (
            "port",
            f"https://businesscentral.dynamics.com:8443/{kestrel}?redirectedfromsignup=1",
            "port",
            False,
        ),
        (
            "tie",
            f"https://businesscentral.dynamics-tie.com/{kestrel}?redirectedfromsignup=1",
            "test environment",
            True,
        ),
        (
            "financials-ppe",
            "https://kestrel.financials.dynamics-ppe.com",
            "test environment",
            False,
        ),
        (
            "servicestie",
            f"https://businesscentral.dynamics-servicestie.com/{kestrel}?redirectedfromsignup=1",
            "test environment",
            False,
        ),
    ]
    for i, (slug, link, reason, hub) in enumerate(cases):
        inv = Invite(
            "en",
            kestrel,
            "Kestrel Analytics Ltd",
            "OLIVER.GRANT",
            PHISH,
            ANNA,
            when(2023, 10, 2 + i, 9, 0, 0),
            link1=link,
            hub_name="Kestrel Analytics Ltd" if hub else None,
            product=PRODUCT_FIN if "financials" in slug else PRODUCT,
        )
        if "financials" in slug:
            inv = replace(inv, tenant="kestrel.financials.dynamics.com")
        mid = smtp_msgid("lookalike-" + slug, "mail.kestrel-analytics.example")
        add(
            f"lookalike-{slug}",
            cat,
            "en",
            "rejected",
            original(inv, mid, style="smtp"),
            mid,
            f"phishing look-alike of the invitation: {link}",
            None,
            reason_contains=reason,
        )

    # Hub link whose Client Link disagrees with link 1.
    inv = Invite(
        "en",
        kestrel,
        "Kestrel Analytics Ltd",
        "OLIVER.GRANT",
        PHISH,
        ANNA,
        when(2019, 10, 2, 9, 0, 0),
        hub_name="Kestrel Analytics Ltd",
        hub_client_link="https://businesscentral.dynamics.com/kestrel-payments."
        "onmicrosoft.com?redirectedfromsignup=1",
    )
    mid = smtp_msgid("lookalike-hub-mismatch", "mail.kestrel-analytics.example")
    add(
        "lookalike-hub-client-link-mismatch",
        cat,
        "en",
        "rejected",
        original(inv, mid, style="smtp"),
        mid,
        "hub filter's Client Link names another tenant than link 1",
        None,
        reason_contains=["disagree", "does not match"],
    )

    # Hub link whose Client Link is a look-alike host while link 1 is genuine.
    inv = replace(
        inv,
        hub_client_link="https://businesscentral.dynamics.com.evil.example/"
        f"{kestrel}?redirectedfromsignup=1",
        date=when(2019, 10, 3, 9, 0, 0),
    )
    mid = smtp_msgid("lookalike-hub-evil", "mail.kestrel-analytics.example")
    add(
        "lookalike-hub-client-link-evil-host",
        cat,
        "en",
        "rejected",
        original(inv, mid, style="smtp"),
        mid,
        "hub filter's Client Link points at a look-alike host",
        None,
        reason_contains=["disagree", "does not match", "businesscentral.dynamics.com.evil.example"],
    )

    # Look-alike behind Safe Links in a German email.
    inv = Invite(
        "de",
        kestrel,
        "Kestrel Analytics Ltd",
        "OLIVER.GRANT",
        PHISH,
        JONAS,
        when(2023, 11, 2, 9, 0, 0, 1),
        link1=f"https://businesscentral.dynamics.com.evil.example/{kestrel}?redirectedfromsignup=1",
    )
    colleague = Person("Uwe", "Uwe Brandt", "u.brandt@kanzlei-schneider.example")
    inv = replace(inv, to=colleague)
    fwd = Fwd(
        colleague,
        JONAS,
        when(2023, 11, 2, 9, 30, 0, 1),
        "Zur Info",
        "WG:",
        ("Von:", "Gesendet:", "An:", "Betreff:"),
        "Donnerstag, 2. November 2023 09:00",
    )
    w = lambda u: safelinks(u, "deu01", JONAS.addr)  # noqa: E731
    body_html = render_html_lines(inv.lines(), autolink=True, wrap=w)
    body_text = render_text_lines(inv.lines(), wrap=w)
    mid = exo_msgid("lookalike-safelinks-de")
    raw, _ = outlook_desktop_forward(
        inv.subject_line,
        inv.sender.header(),
        colleague.header(),
        body_html,
        body_text,
        fwd,
        mid,
        "de",
    )
    add(
        "lookalike-safelinks-forward-de",
        cat,
        "de",
        "rejected",
        raw,
        mid,
        "German forward; the Safe Links-wrapped link 1 is a look-alike host",
        None,
        reason_contains="businesscentral.dynamics.com.evil.example",
    )


def main(argv: list[str]) -> int:
    out = HERE
    if argv[:1] == ["--out"] and len(argv) == 2:
        out = Path(argv[1])
    elif argv:
        print("usage: generate.py [--out DIR]", file=sys.stderr)
        return 2
    gen_current()
    gen_hub()
    gen_financials()
    gen_forwards()
    gen_attachments()
    gen_wrappers()
    gen_review()
    gen_negatives()
    gen_lookalikes()
    import generate_shapes  # beside this script; uses its helpers

    generate_shapes.generate(sys.modules[__name__])
    ids = [e["message_id"] for e in ENTRIES]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        print(f"duplicate expected message ids: {sorted(dupes)}", file=sys.stderr)
    write_all(out)
    counts: dict[str, int] = {}
    for entry in ENTRIES:
        counts[str(entry["category"])] = counts.get(str(entry["category"]), 0) + 1
    print(f"wrote {len(ENTRIES)} emails: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
