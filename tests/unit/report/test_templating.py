"""Template lookup (user directory first, shipped templates second) and template checking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from acchub_mailbot.report.samples import sample_digest_content
from acchub_mailbot.report.templating import (
    DIGEST_TEMPLATES,
    available_languages,
    check_templates,
    load_translations,
    make_environment,
    render_digest,
    shipped_templates_dir,
)


def test_shipped_templates_are_found() -> None:
    directory = shipped_templates_dir()
    for name in DIGEST_TEMPLATES:
        assert (directory / name).is_file()


def test_shipped_templates_pass_the_check_in_every_language() -> None:
    assert set(available_languages()) >= {"en", "fr"}
    assert check_templates(None, available_languages()) == []


def test_user_template_overrides_one_and_the_others_fall_back(tmp_path: Path) -> None:
    """A user may replace just the subject; text and HTML still come from the package."""
    (tmp_path / "digest.subject.j2").write_text(
        "[acchub] {{ ngettext('%(num)d client', '%(num)d clients', counts.registered) }}"
        " {{ content.generated_at | datetime }}\n",
        encoding="utf-8",
    )
    custom = render_digest(sample_digest_content(), templates_dir=tmp_path)
    shipped = render_digest(sample_digest_content())
    # The subject is put on one line with plain spaces, so the narrow no-break space goes too.
    assert custom.subject == "[acchub] 2 clients Jan 15, 2025, 8:30 AM"
    assert custom.text == shipped.text
    assert custom.html == shipped.html


def test_user_templates_can_import_the_shipped_macros(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text(
        '{% from "_macros.j2" import summary %}Résumé: {{ summary(counts) }}\n', encoding="utf-8"
    )
    rendered = render_digest(sample_digest_content("fr"), templates_dir=tmp_path)
    assert rendered.text.startswith("Résumé: 2 nouveaux clients, 2 demandent votre attention")


def test_user_html_templates_are_autoescaped_too(tmp_path: Path) -> None:
    (tmp_path / "digest.html.j2").write_text(
        "<p>{{ content.registered[0].client_name }}</p>", encoding="utf-8"
    )
    content = sample_digest_content()
    hostile = replace(content.registered[0], client_name="<b>x</b>")
    content = replace(content, registered=(hostile,))
    assert render_digest(content, templates_dir=tmp_path).html == "<p>&lt;b&gt;x&lt;/b&gt;</p>"


def test_a_broken_user_template_is_reported_with_its_name_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "digest.html.j2"
    broken.write_text("<p>\n<p>\n{{ content.registered | length }\n", encoding="utf-8")
    problems = check_templates(tmp_path, ["en"])
    assert len(problems) == 1
    assert problems[0].startswith(f"{broken} line 3: ")
    assert "'}'" in problems[0]


def test_an_undefined_variable_is_reported_for_each_language(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("ok\n{{ content.no_such_field }}\n", encoding="utf-8")
    problems = check_templates(tmp_path, ["en", "fr"])
    assert len(problems) == 2
    assert all("digest.txt.j2 line 2" in p and "no_such_field" in p for p in problems)
    assert "(en)" in problems[0] and "(fr)" in problems[1]


def test_a_broken_helper_template_in_the_user_directory_is_reported(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "helpers.j2").write_text("{% if %}\n", encoding="utf-8")
    problems = check_templates(tmp_path, ["en"])
    assert len(problems) == 1
    assert "helpers.j2 line 1" in problems[0]


def test_missing_templates_dir_and_unknown_language_are_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert check_templates(missing, ["en"]) == [
        f"digest.templates_dir {missing} is not a directory"
    ]
    problems = check_templates(None, ["en", "xx"])
    assert len(problems) == 1
    assert problems[0].startswith("language xx: no translation for language 'xx'")


def test_translations_are_read_from_the_po_file_without_compiling() -> None:
    french = load_translations("fr")
    assert french.gettext("New clients") == "Nouveaux clients"
    assert french.ngettext("%(num)d new client", "%(num)d new clients", 1) == (
        "%(num)d nouveau client"
    )
    # French uses the singular for 0 and 1.
    assert french.ngettext("%(num)d new client", "%(num)d new clients", 0) == (
        "%(num)d nouveau client"
    )
    assert french.ngettext("%(num)d new client", "%(num)d new clients", 2) == (
        "%(num)d nouveaux clients"
    )
    assert load_translations("en").gettext("New clients") == "New clients"
    with pytest.raises(ValueError, match="available: en, fr"):
        load_translations("xx")


def test_environment_formats_for_the_locale_and_zone() -> None:
    env = make_environment(None, "fr", timezone="Europe/Paris")
    when = sample_digest_content().generated_at
    template = env.from_string("{{ when | datetime }} / {{ when | date }} / {{ 1234567 | number }}")
    assert (
        template.render(when=when) == "15 janv. 2025, 09:30 / 15 janvier 2025 / 1\u202f234\u202f567"
    )


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("== Sending ==", "2 earlier digests could not be sent.", "1 reply to a forwarder")),
        ("fr", ("== Envoi ==", "2 récapitulatifs précédents", "1 réponse à un transfert")),
    ],
)
def test_mail_held_back_by_failed_sends_is_reported_in_both_parts(
    language: str, words: tuple[str, ...]
) -> None:
    from datetime import UTC, datetime

    from acchub_mailbot.report.digest import SendingHealth, build_digest

    since = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    held = SendingHealth(2, 1, since, "535 5.7.3 <b>Authentication unsuccessful</b>")
    content = build_digest([], [], language=language, now=since, sending=held)
    rendered = render_digest(content, templates_dir=shipped_templates_dir())
    for word in words:
        assert word in rendered.text
    assert "Authentication unsuccessful" in rendered.text
    assert "&lt;b&gt;Authentication unsuccessful&lt;/b&gt;" in rendered.html
    assert "<b>Authentication" not in rendered.html
    quiet = build_digest(
        [], [], language=language, now=since, sending=SendingHealth(0, 0, None, None)
    )
    assert quiet.sending is None
    assert words[0] not in render_digest(quiet, templates_dir=shipped_templates_dir()).text
