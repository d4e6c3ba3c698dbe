"""The company name of an invitation, found by structure or not at all.

Business Central writes ``Company."Display Name"`` as the last line of the welcome text, the
block just before the fixed "open the following link" sentence (research notes, section 3). The
text is editable, so an administrator may delete that line; then the last line is the user's
name, the closing, or an address. Wording cannot tell these apart in every language, so the line
is found by its position, and what cannot be a company is refused by what it is: an address, a
URL, a domain, or the name of a person the message itself names (its sender, its recipients,
the original sender of a forward). A wrong name on a client card is worse than none: the digest
says the name is missing and the accountant fills it in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses

#: A line that is a host name: dot-separated labels and nothing else (``www.contoso.com``).
_DOMAIN = re.compile(r"(?i)^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]\.?$")
_URLISH = re.compile(r"\S*://\S*")
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
#: A line longer than this is prose, not a display name (BC's field holds 30 to 250 characters).
MAX_NAME_LENGTH = 120


@dataclass(frozen=True)
class Person:
    """Someone the message names: display name and address, either may be empty."""

    name: str
    address: str

    @property
    def name_words(self) -> frozenset[str]:
        local = self.address.rpartition("@")[0] if "@" in self.address else ""
        return frozenset(_words(self.name) | _words(local.replace(".", " ")))

    @property
    def domain_words(self) -> frozenset[str]:
        return frozenset(_words(self.address.rpartition("@")[2]) if "@" in self.address else ())


def people(*headers: str | None) -> tuple[Person, ...]:
    """Everyone named in address headers (``From``, ``To``, a forward's ``From:`` line)."""
    found = getaddresses([h for h in headers if h])
    return tuple(Person(name.strip(), addr.strip()) for name, addr in found if name or addr)


#: Marks that join the letters of one word: Catalan's ``l·l`` (which NFKC makes of ``ŀl``).
_JOINERS = frozenset("\u00b7\u0387\u2027")


def _words(text: str) -> set[str]:
    """Words compared without case and Unicode form (a Mac writes ``é`` as ``e`` + accent).

    A word is a run of letters, digits, ``_`` and combining marks: case folding turns ``İ``
    into ``i`` plus a combining dot, and a script's vowel signs are marks too; neither may split
    a name into more words than it has.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    found: set[str] = set()
    word: list[str] = []
    for char in f"{folded} ":
        if unicodedata.category(char)[0] in "LMN" or char == "_" or (word and char in _JOINERS):
            word.append(char)
            continue
        token = "".join(word).strip("".join(_JOINERS))
        if token and not token.isdigit():
            found.add(token)
        word = []
    return found


def _is_person(candidate: str, persons: Iterable[Person]) -> Person | None:
    """The person whose name (or address's local part) the candidate is made of.

    A word of the candidate inside that person's mail domain makes it the company behind a
    shared mailbox (``Kestrel Joinery <info@kestrel-joinery.example>``), not a person.
    """
    words = _words(candidate)
    if not words or len(words) > 4:
        return None
    for person in persons:
        if words <= person.name_words and not words & person.domain_words:
            return person
    return None


def refusal(candidate: str, persons: Iterable[Person] = ()) -> str | None:
    """Why ``candidate`` cannot be a company display name, or ``None`` when it can."""
    if not candidate:
        return "the line is empty"
    if len(candidate) > MAX_NAME_LENGTH:
        return "the line is a sentence, not a name"
    if "@" in candidate:
        return "the line is an email address"
    if "://" in candidate:
        return "the line is a link"
    if _DOMAIN.match(candidate):
        return "the line is a domain name"
    if candidate.rstrip().endswith((":", ",")):
        return "the line introduces something else (it ends with a colon or comma)"
    person = _is_person(candidate, persons)
    if person is not None:
        who = person.address or person.name
        return f"the line is the name of a person the message names ({who})"
    return None


def _url_only(text: str) -> bool:
    """Nothing but (part of) a URL: empty, or one long token of the characters a URL is made
    of (the tail of a cut URL; a short word such as ``Link:`` is a label, not a URL)."""
    stripped = _URLISH.sub("", text).strip()
    return not stripped or (len(stripped) >= 20 and bool(_URL_CHARS.fullmatch(stripped)))


def _cut_url_line(line: str) -> bool:
    """The first lines of a URL a hard wrap cut: URL characters only, and wrap-column long."""
    stripped = line.strip()
    return bool(_URL_CHARS.fullmatch(stripped)) and ("://" in stripped or len(stripped) >= 40)


def welcome_last_line(lines: tuple[str, ...], index: int, link: str) -> str | None:
    """The last line of the welcome text, when ``lines[index]`` shows link 1 as ``link``: the
    line before the fixed sentence that precedes the access link. Located by position, not
    wording, because the fixed sentence is translated and the welcome text is free text."""
    # A URL cut by a hard wrap spans several lines: start from its first one.
    while index > 0 and _cut_url_line(lines[index - 1]) and _url_only(lines[index].split(link)[0]):
        index -= 1
        link = lines[index].strip()
    i = index - 1
    # A line holding only the link (perhaps gateway-wrapped, or an anchor's label) is link 1 on
    # its own line; otherwise the sentence and the link share it.
    before_link = lines[index].split(link)[0]
    if _url_only(before_link):
        while i >= 0 and not lines[i]:
            i -= 1
        i -= 1  # the fixed "Open the following link..." sentence
    while i >= 0 and not lines[i]:
        i -= 1
    if i < 0:
        return None
    return lines[i].strip().strip("*_").strip() or None


def _mentions(
    lines: tuple[str, ...], links: Iterable[str], labels: Iterable[str]
) -> list[tuple[int, str]]:
    """Every line that shows link 1: a written form of it anywhere in the line, or an anchor's
    label (``here``, ``Open Business Central``) as the whole line."""
    links = tuple(dict.fromkeys(links))
    labels = tuple(dict.fromkeys(label.strip() for label in labels if label.strip()))
    found = []
    for index, line in enumerate(lines):
        shown = next((link for link in links if link in line), None)
        if shown is None and line.strip() in labels:
            shown = line.strip()
        if shown is not None:
            found.append((index, shown))
    return found


@dataclass(frozen=True)
class CompanyName:
    """The name found (or ``None``) and the reason that says where it came from or why not."""

    name: str | None
    reason: str


def company_name(
    hub_name: str | None,
    lines: tuple[str, ...],
    links: Iterable[str],
    labels: Iterable[str] = (),
    persons: Iterable[Person] = (),
) -> CompanyName:
    """The hub filter's ``Customer.Name`` when there is one, else the welcome text's last line.

    ``links`` are the written forms of link 1 and ``labels`` the visible texts of anchors leading
    to it. Each line that shows link 1 is tried from the top, and the first plausible name wins:
    a forwarder's own note above the original may show the link too.
    """
    if hub_name:
        return CompanyName(hub_name, "company name: hub filter")
    persons = tuple(persons)
    refused: list[str] = []
    for index, shown in _mentions(lines, links, labels):
        candidate = welcome_last_line(lines, index, shown)
        if candidate is None:
            continue
        why = refusal(candidate, persons)
        if why is None:
            return CompanyName(candidate, "company name: signature (last line of the welcome text)")
        refused.append(f"{candidate!r}: {why}")
    if refused:
        return CompanyName(
            None, "company name: not found (the welcome text's last line " + refused[0] + ")"
        )
    return CompanyName(None, "company name: not found")


__all__ = ["CompanyName", "Person", "company_name", "people", "refusal", "welcome_last_line"]
