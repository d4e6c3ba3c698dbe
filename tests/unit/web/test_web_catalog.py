"""The dashboard in French: every sentence of its pages and routes has a French translation, and
each keeps the placeholders of its English source."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from acchub_mailbot import paths
from acchub_mailbot.report.templating import LOCALE_DIR

WEB = Path(paths.__file__).parent / "web"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def dashboard_sentences() -> set[str]:
    found: set[str] = set()
    for template in sorted((paths.templates_dir() / "web").glob("*.j2")):
        for _line, msgid, _comments, _context in extract_from_file(
            "jinja2.ext:babel_extract", str(template), options={"trimmed": "true"}
        ):
            found.add(msgid if isinstance(msgid, str) else msgid[0])
    for module in sorted(WEB.glob("*.py")):
        for _line, msgid, _comments, _context in extract_from_file("python", str(module)):
            found.add(msgid if isinstance(msgid, str) else msgid[0])
    return found


def test_the_dashboard_has_sentences_in_every_page_and_route() -> None:
    sentences = dashboard_sentences()
    assert {"Clients", "Needs attention", "Poll now", "Wrong email or password."} <= sentences
    assert len(sentences) > 150


def test_every_dashboard_sentence_is_translated_to_french_with_its_placeholders() -> None:
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    missing, broken = [], []
    for sentence in sorted(dashboard_sentences()):
        entry = catalog.get(sentence)
        if entry is None or not entry.string or entry.fuzzy:
            missing.append(sentence)
        elif sorted(PLACEHOLDER.findall(sentence)) != sorted(PLACEHOLDER.findall(entry.string)):
            broken.append(sentence)
    assert missing == []
    assert broken == []
