"""Wording of the invitation email in the languages Business Central ships, as *supporting* signals.

Microsoft's translated labels were not available (research notes, section 5), so these patterns
are our own renderings plus the English originals. They are never required for a verdict: the link
shape decides. They only add reasons, and they let a message with a hidden link (Mimecast) go to a
person instead of being dropped.
"""

from __future__ import annotations

import re
import unicodedata

#: "You have been invited to <product>" and translations (en, fr, de, nl, es, da, it, sv, nb, fi).
SUBJECT_INVITED = re.compile(
    r"you have been invited to|you've been invited to|vous avez été invitée? à|"
    r"vous êtes invitée? à|sie wurden .{0,60}eingeladen|sie wurden zu|du wurdest .{0,60}eingeladen|"
    r"u bent uitgenodigd|je bent uitgenodigd|ha sido invitad[oa]|has sido invitad[oa]|"
    r"se le ha invitado|du er blevet inviteret|du er inviteret|sei stat[oa] invitat[oa]|"
    r"è stat[oa] invitat[oa]|du har bjudits in|du har blivit inbjuden|du er invitert|"
    r"sinut on kutsuttu",
    re.IGNORECASE,
)
#: The product names that follow: current and Financials-era marketing names.
PRODUCT = re.compile(r"dynamics\s*365|business\s*central|financials", re.IGNORECASE)

#: Body sentences, keyed by the name used in decision reasons.
BODY_PHRASES: dict[str, re.Pattern[str]] = {
    "open-link sentence": re.compile(
        r"open the following link|ouvrez le lien suivant|öffnen sie den folgenden link|"
        r"open de volgende (?:koppeling|link)|abra el siguiente (?:vínculo|enlace)|"
        r"åbn følgende link|åbn det følgende link|"
        r"apri(?:re)? il (?:seguente )?(?:collegamento|link)|"
        r"öppna följande länk|åpne følgende kobling|avaa seuraava linkki",
        re.IGNORECASE,
    ),
    "accept-invitation sentence": re.compile(
        r"please accept this invitation|veuillez accepter cette invitation|"
        r"bitte nehmen sie diese einladung an|accepteer deze uitnodiging|acepte esta invitación|"
        r"accepter denne invitation|accetta(?:re)? questo invito|acceptera denna inbjudan",
        re.IGNORECASE,
    ),
    "accountant hub sentence": re.compile(r"accountant\s*hub", re.IGNORECASE),
}


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def subject_is_invitation(subject: str) -> bool:
    """True for "You have been invited to Dynamics 365 Business Central" and translations."""
    folded = _fold(subject)
    return bool(SUBJECT_INVITED.search(folded) and PRODUCT.search(folded))


def names_product(text: str) -> bool:
    """The product name, which Business Central writes untranslated into every language's
    subject and body (``%1``): the one piece of wording that holds in languages not listed."""
    return bool(PRODUCT.search(_fold(text)))


def body_phrases(text: str) -> tuple[str, ...]:
    """Names of the invitation sentences found in ``text``."""
    folded = _fold(text)
    return tuple(name for name, pattern in BODY_PHRASES.items() if pattern.search(folded))


__all__ = ["BODY_PHRASES", "body_phrases", "names_product", "subject_is_invitation"]
