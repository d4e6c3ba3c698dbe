"""Jinja environment and rendering for the digest email, with translations and locale formats.

Templates are looked up first in the user's ``digest.templates_dir`` (so one template can be
overridden and the others still come from the package), then in the shipped templates. In a wheel
those are installed as ``acchub_mailbot/templates``; in a source checkout they are the top-level
``templates/`` directory.

Translations are read straight from ``acchub_mailbot/locale/<lang>/LC_MESSAGES/messages.po`` and
compiled in memory, so no build step is needed and adding a language is adding one ``.po`` file.
English is the source language and needs no file.
"""

from __future__ import annotations

import functools
import gettext
import re
import traceback
from collections.abc import Iterable
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from acchub_mailbot import paths
from acchub_mailbot.report.digest import DigestContent, RenderedDigest
from acchub_mailbot.report.safetext import defang, header_safe
from acchub_mailbot.report.samples import sample_digest_content

SOURCE_LANGUAGE = "en"
DOMAIN = "messages"
LOCALE_DIR = paths.LOCALE_DIR

SUBJECT_TEMPLATE = "digest.subject.j2"
TEXT_TEMPLATE = "digest.txt.j2"
HTML_TEMPLATE = "digest.html.j2"
DIGEST_TEMPLATES = (SUBJECT_TEMPLATE, TEXT_TEMPLATE, HTML_TEMPLATE)


def shipped_templates_dir() -> Path:
    """The packaged templates when installed from a wheel, else the checkout's ``templates/``."""
    return paths.templates_dir()


def _po_file(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _candidates(language: str) -> list[str]:
    """``fr-CA`` -> ``["fr_CA", "fr"]``: the exact locale first, then its base language."""
    normal = language.replace("-", "_")
    base = normal.split("_", 1)[0]
    return [normal] if base == normal else [normal, base]


def available_languages() -> tuple[str, ...]:
    """English plus every language that has a ``.po`` file."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


@functools.lru_cache(maxsize=16)
def load_translations(language: str) -> gettext.NullTranslations:
    """The catalog for ``language``, compiled in memory from its ``.po`` file.

    Raises ``ValueError`` for a language that is neither English nor has a ``.po`` file, so a
    typo in the configuration shows up instead of silently producing an English digest.
    """
    for candidate in _candidates(language):
        po = _po_file(candidate)
        if po.is_file():
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=candidate, domain=DOMAIN)
            compiled = BytesIO()
            write_mo(compiled, catalog, use_fuzzy=False)
            compiled.seek(0)
            return Translations(fp=compiled, domain=DOMAIN)
        if candidate == SOURCE_LANGUAGE:
            return gettext.NullTranslations()
    raise ValueError(
        f"no translation for language {language!r}: expected {_po_file(_candidates(language)[-1])}"
        f" (available: {', '.join(available_languages())})"
    )


def _babel_locale(language: str) -> Locale:
    for candidate in _candidates(language):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse(SOURCE_LANGUAGE)


def _formatters(language: str, timezone: str) -> dict[str, object]:
    """Jinja filters that format dates, durations and numbers for the reader's locale and zone."""
    locale = _babel_locale(language)
    zone = ZoneInfo(timezone)
    glue = str(locale.datetime_formats["medium"]).replace("'", "")

    def format_when(value: datetime) -> str:
        # Date at medium length with the time at short length: seconds are noise in a digest.
        local = value.astimezone(zone)
        time = format_time(local, "short", locale=locale)
        date = format_date(local, "medium", locale=locale)
        return glue.replace("{0}", time).replace("{1}", date)

    def format_day(value: datetime) -> str:
        return format_date(value.astimezone(zone), "long", locale=locale)

    def format_delta(value: timedelta) -> str:
        return format_timedelta(value, add_direction=True, threshold=1.0, locale=locale)

    def format_number(value: int | float) -> str:
        return format_decimal(value, locale=locale)

    return {
        "datetime": format_when,
        "date": format_day,
        "timedelta": format_delta,
        "number": format_number,
        "defang": defang,
        "oneline": header_safe,
    }


@functools.lru_cache(maxsize=1)
def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs: compiling them is a tenth of a second of every
    ``run --once``. Jinja keys each entry by the template's source, so an edited template is
    compiled afresh, and keeps them in a directory of this user's own (mode 0700)."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no private temporary directory: compile every time
        return None


def make_environment(
    templates_dir: Path | None, language: str, *, timezone: str = "UTC"
) -> jinja2.Environment:
    """A Jinja environment for one language and time zone.

    HTML templates (``*.html.j2``) are autoescaped, so text from emails shows as text; the subject
    and text templates are not, because escaping would corrupt them. Undefined variables are
    errors, so a typo in a user's template is caught by :func:`check_templates`.
    """
    search: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        search.append(jinja2.FileSystemLoader(str(templates_dir)))
    search.append(jinja2.FileSystemLoader(str(shipped_templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(search),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2", "htm.j2", "xml.j2"),
            default_for_string=False,
            default=False,
        ),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(),
    )
    env.policies["ext.i18n.trimmed"] = True
    # The i18n extension adds this method at run time, so the type stubs do not know it.
    env.install_gettext_translations(load_translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(_formatters(language, timezone))
    return env


_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def render_digest(content: DigestContent, *, templates_dir: Path | None = None) -> RenderedDigest:
    """Render the subject, text part and HTML part of one digest."""
    env = make_environment(templates_dir, content.language, timezone=content.timezone)
    context = {"content": content, "counts": content.counts}
    subject = env.get_template(SUBJECT_TEMPLATE).render(context)
    text = env.get_template(TEXT_TEMPLATE).render(context)
    html = env.get_template(HTML_TEMPLATE).render(context)
    # Macro definitions leave blank lines before <!DOCTYPE>; some clients mind, so drop them.
    return RenderedDigest(subject=header_safe(subject), text=_tidy_text(text), html=html.lstrip())


def _where(exc: BaseException) -> str:
    """``<template file> line N`` from a Jinja error, or from the template frame in a traceback."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        name = exc.filename or exc.name or "<template>"
        return f"{name} line {exc.lineno}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2") or frame.filename.endswith(".html"):
            return f"{frame.filename} line {frame.lineno}"
    return "template"


def check_templates(templates_dir: Path | None, languages: Iterable[str]) -> list[str]:
    """Compile every digest template and render the sample digest in each language.

    Returns human-readable problems (``/etc/acchub/templates/digest.html.j2 line 12: unexpected
    '}'``), or an empty list when everything renders. Used by ``check-config`` so a broken
    override is found before the first real digest is due.
    """
    problems: list[str] = []
    if templates_dir is not None and not templates_dir.is_dir():
        return [f"digest.templates_dir {templates_dir} is not a directory"]
    env = make_environment(templates_dir, SOURCE_LANGUAGE)
    names = set(DIGEST_TEMPLATES)
    if templates_dir is not None:
        names |= {p.relative_to(templates_dir).as_posix() for p in templates_dir.rglob("*.j2")}
    broken = False
    for name in sorted(names):
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{_where(exc)}: {exc.message}")
            broken = True
        except jinja2.TemplateNotFound as exc:
            problems.append(f"template {exc.name} not found")
            broken = True
    if broken:
        return problems
    for language in dict.fromkeys(languages):
        try:
            load_translations(language)
        except (ValueError, OSError) as exc:
            problems.append(f"language {language}: {exc}")
            continue
        try:
            rendered = render_digest(sample_digest_content(language), templates_dir=templates_dir)
        except jinja2.TemplateError as exc:
            problems.append(f"{_where(exc)} ({language}): {exc.message or exc}")
            continue
        except Exception as exc:
            # Any fault in a user's template (a bad filter argument, ...) is reported, not raised.
            problems.append(f"{_where(exc)} ({language}): {type(exc).__name__}: {exc}")
            continue
        if not rendered.subject:
            problems.append(f"{SUBJECT_TEMPLATE} ({language}): the subject renders empty")
    return problems
