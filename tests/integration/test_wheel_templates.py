"""An installed wheel carries the digest templates and translations and finds them on its own,
without the source checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

RENDER = """
import json, acchub_mailbot
from acchub_mailbot.report.samples import sample_digest_content
from acchub_mailbot.report.templating import check_templates, render_digest, shipped_templates_dir
rendered = render_digest(sample_digest_content("fr", timezone="Europe/Paris"))
print(json.dumps({
    "module": acchub_mailbot.__file__,
    "templates": str(shipped_templates_dir()),
    "problems": check_templates(None, ["en", "fr"]),
    "subject": rendered.subject,
    "text": rendered.text,
    "html": rendered.html,
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built into a wheel the way a release would be (hatchling from PyPI)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(ROOT), "-w", str(out)],
        check=True,
        timeout=600,
        cwd=out,
    )
    (built,) = out.glob("acchub_mailbot-*.whl")
    return built


def test_wheel_contains_templates_and_translations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "acchub_mailbot/templates/digest.html.j2",
        "acchub_mailbot/templates/digest.txt.j2",
        "acchub_mailbot/templates/digest.subject.j2",
        "acchub_mailbot/templates/_macros.j2",
        "acchub_mailbot/locale/fr/LC_MESSAGES/messages.po",
        "acchub_mailbot/locale/messages.pot",
    ):
        assert required in names, f"{required} missing from {wheel.name}"


def test_installed_wheel_renders_the_french_digest_without_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    """Installed into a bare directory and run from elsewhere, the package uses its own
    templates and French catalog, not the checkout's."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", RENDER],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
        env=env,
    )
    report = json.loads(result.stdout)
    package = (target / "acchub_mailbot").resolve()
    assert Path(report["module"]).resolve().parent == package
    assert Path(report["templates"]) == package / "templates"
    assert not str(report["templates"]).startswith(str(ROOT / "templates"))
    assert report["problems"] == []
    assert report["subject"].startswith("Invitations Business Central : 2 nouveaux clients")
    assert "Ouvrez ce lien pour accepter l'invitation" in report["text"]
    assert "Récapitulatif du 15 janv. 2025, 09:30." in report["text"]
    assert "Accepter l'invitation" in report["html"]
    assert "Contoso Ltd" in report["html"]
