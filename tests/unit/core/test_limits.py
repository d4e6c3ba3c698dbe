"""Parsing stays within the limits: sizes, depths, counts, time, and the memory of the process."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from acchub_mailbot.app.pipeline import decide_bytes
from acchub_mailbot.config import insecure_permission_warning, load_settings, parse_settings
from acchub_mailbot.core.limits import LimitExceeded, Limits
from acchub_mailbot.core.messages import parse_message, skeleton
from acchub_mailbot.errors import ConfigError
from acchub_mailbot.handlers.base import Verdict
from tests import mailfactory

ROOT = Path(__file__).resolve().parents[3]
LINK1 = "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com?redirectedfromsignup=1"
HEAD = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
#: Resident memory the child process may reach while deciding one huge message.
MEMORY_BOUND_MB = 300


def _invitation_with_attachment(payload: bytes, filename: str = "big.bin") -> bytes:
    inv = EmailMessage()
    inv["From"] = "admin@kestrel-joinery.example"
    inv["To"] = "dana@firm.example"
    inv["Subject"] = "You have been invited to Dynamics 365 Business Central"
    inv["Message-ID"] = "<big@kestrel-joinery.example>"
    html = parse_message(mailfactory.invitation(message_id="<x@y>")).html
    inv.set_content(html, subtype="html")
    inv.add_attachment(payload, maintype="application", subtype="octet-stream", filename=filename)
    return inv.as_bytes()


def _many_parts(count: int) -> bytes:
    parts = b"".join(
        b"--BB\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count)
    )
    return HEAD + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n" + parts + b"--BB--\r\n"


def test_defaults_are_safe_and_limit_exceeded_reads_as_a_reason() -> None:
    """The defaults bound every dimension; an exceeded limit is a value with a readable reason."""
    limits = Limits()
    assert limits.max_message_bytes == 10 * 1024 * 1024
    assert (limits.max_mime_depth, limits.max_parts, limits.max_rfc822_depth) == (20, 500, 5)
    assert limits.max_links == 500 and limits.max_unwrap_depth == 8
    assert limits.time_budget_seconds == 5.0
    assert LimitExceeded("max_parts", "more than 500").reason == (
        "message exceeds the max_parts limit (more than 500)"
    )


def test_oversized_message_is_decided_on_its_text_without_its_attachment() -> None:
    """Over max_message_bytes, attachment bodies are skipped and the invitation still counts."""
    raw = _invitation_with_attachment(os.urandom(300_000))
    limits = Limits(max_message_bytes=100_000)
    message = parse_message(raw, limits=limits)
    assert LINK1 in message.html
    assert message.limit_hit is None
    assert any("attachment bodies" in d and "were not read" in d for d in message.defects)
    reduced = skeleton(raw, limits)
    assert len(reduced) < 5_000
    _message, decision = decide_bytes(raw)
    assert decision.verdict is Verdict.INVITATION


def test_part_count_stops_the_walk_and_is_named() -> None:
    """Beyond max_parts no part is read, and the message says which limit it hit."""
    message = parse_message(_many_parts(50), limits=Limits(max_parts=10))
    assert message.limit_hit == "max_parts"
    assert len(message.part_types) == 10
    assert "part 8" in message.text and "part 9" not in message.text
    exceeded = message.limit_exceeded
    assert exceeded is not None and "more than 10 MIME parts" in exceeded.reason


def test_many_boundaries_go_through_the_byte_level_pass() -> None:
    """10,000 parts are cut to max_parts before the standard library builds a tree of them."""
    message = parse_message(_many_parts(10_000))
    assert message.limit_hit == "max_parts"
    assert len(message.part_types) == Limits().max_parts


def test_mime_nesting_depth_is_bounded() -> None:
    """Multiparts nested 1,000 deep stop at max_mime_depth instead of recursing."""
    raw = HEAD + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(1000)
    )
    message = parse_message(raw + b"Content-Type: text/plain\r\n\r\nbottom\r\n")
    assert message.limit_hit == "max_mime_depth"
    assert "bottom" not in message.text


def test_attached_message_depth_is_bounded() -> None:
    """Forwards attached inside forwards stop at max_rfc822_depth."""
    inner = mailfactory.invitation(message_id="<in@kestrel-joinery.example>")
    raw = inner
    for _ in range(4):
        raw = HEAD + b"Content-Type: message/rfc822\r\n\r\n" + raw
    message = parse_message(raw, limits=Limits(max_rfc822_depth=2))
    assert message.limit_hit == "max_rfc822_depth"
    assert message.attached[0].attached[0].attached == ()


@pytest.mark.parametrize(
    ("ctype", "limit", "field"),
    [("text/html", "max_html_bytes", "html"), ("text/plain", "max_text_bytes", "text")],
)
def test_bodies_are_cut_at_their_limit(ctype: str, limit: str, field: str) -> None:
    """HTML and text beyond their limit are cut off before any detector sees them."""
    raw = HEAD + f"Content-Type: {ctype}\r\n\r\n".encode() + b"x" * 50_000
    message = parse_message(raw, limits=Limits(**{limit: 4096}))  # type: ignore[arg-type]
    assert len(getattr(message, field)) == 4096
    assert message.limit_hit == limit


def test_time_budget_stops_parsing() -> None:
    """A used-up time budget stops the walk and is named; the deadline is checked, not a signal."""
    message = parse_message(_many_parts(20), limits=Limits(time_budget_seconds=0.0))
    assert message.limit_hit == "time_budget_seconds"
    assert message.text == ""


def test_ordinary_mail_hits_no_limit() -> None:
    """A genuine invitation is far inside every default limit."""
    raw = mailfactory.invitation(hub_name="Kestrel", message_id="<a@kestrel-joinery.example>")
    assert parse_message(raw).limit_hit is None


# The peak is read from VmHWM, which starts afresh with the child's own address space:
# ru_maxrss would carry over the forking pytest process's high-water mark.
_CHILD = """
import sys
from acchub_mailbot.app.inspect import inspect_bytes
from acchub_mailbot.app.pipeline import decide_bytes
raw = open(sys.argv[1], "rb").read()
message, decision = decide_bytes(raw)
result = inspect_bytes(raw, sys.argv[1])
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
print(decision.verdict.value, result["verdict"], message.limit_hit or "-", peak_kb // 1024)
"""


def _decide_in_child(path: Path) -> tuple[str, str, str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=300,
    ).stdout.split()
    return out[0], out[1], out[2], int(out[3])


@pytest.mark.slow
def test_memory_bound_holds_with_a_50_mb_attachment(tmp_path: Path) -> None:
    """Deciding an invitation with a 50 MB attachment stays under MEMORY_BOUND_MB of RSS."""
    path = tmp_path / "big.eml"
    chunk = base64.encodebytes(os.urandom(3 * 1024 * 1024))
    raw = _invitation_with_attachment(b"small")
    head, _, tail = raw.rpartition(base64.encodebytes(b"small"))
    with path.open("wb") as handle:
        handle.write(head)
        for _ in range(17):  # 17 x 3 MB of random bytes, base64-encoded as a mailer would
            handle.write(chunk)
        handle.write(tail)
    assert path.stat().st_size > 50 * 1024 * 1024
    verdict, inspected, _limit, rss_mb = _decide_in_child(path)
    assert (verdict, inspected) == ("invitation", "invitation")
    assert rss_mb < MEMORY_BOUND_MB


@pytest.mark.slow
def test_memory_bound_holds_with_10000_mime_parts(tmp_path: Path) -> None:
    """Deciding a message of 10,000 MIME parts stays under MEMORY_BOUND_MB and names the limit."""
    path = tmp_path / "many.eml"
    path.write_bytes(_many_parts(10_000))
    verdict, _inspected, limit, rss_mb = _decide_in_child(path)
    assert verdict in {v.value for v in Verdict}
    assert limit == "max_parts"
    assert rss_mb < MEMORY_BOUND_MB


# --- The limits: section of the config and the permission warning ---------------------------------


def test_limits_section_maps_to_limits() -> None:
    """``limits:`` in the config sets the parser's Limits; unknown keys name themselves."""
    settings = parse_settings({"limits": {"max_parts": 50, "time_budget_seconds": 2.5}}, environ={})
    limits = settings.limits.to_limits()
    assert (limits.max_parts, limits.time_budget_seconds) == (50, 2.5)
    assert limits.max_mime_depth == Limits().max_mime_depth
    assert parse_settings({}, environ={}).limits.to_limits() == Limits()
    with pytest.raises(ConfigError, match=r"limits\.max_part: unknown key"):
        parse_settings({"limits": {"max_part": 5}}, environ={})
    with pytest.raises(ConfigError, match=r"limits\.max_parts"):
        parse_settings({"limits": {"max_parts": 0}}, environ={})


def _config(tmp_path: Path, data: dict[str, object], mode: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    path.chmod(mode)
    return path


def _mailbox(password_file: Path) -> dict[str, object]:
    return {
        "name": "invites",
        "imap": {"host": "imap.example", "username": "u", "password_file": str(password_file)},
    }


def test_config_holding_a_database_password_warns_when_others_can_read_it(tmp_path: Path) -> None:
    """A database URL with a password makes a group/world-readable config worth a warning."""
    data = {"database": {"url": "postgresql://bot:Pw-XYZ@db.example/acchub"}}
    for mode in (0o644, 0o640):
        path = _config(tmp_path, data, mode)
        warning = insecure_permission_warning(path, load_settings(path, environ={}))
        assert warning is not None and "database password" in warning and "chmod 600" in warning
        assert "Pw-XYZ" not in warning
    path = _config(tmp_path, data, 0o600)
    assert insecure_permission_warning(path, load_settings(path, environ={})) is None
    path = _config(tmp_path, {"database": {"url": "sqlite:///a.db"}}, 0o644)
    assert insecure_permission_warning(path, load_settings(path, environ={})) is None


def test_readable_password_file_warns_even_with_a_private_config(tmp_path: Path) -> None:
    """A password_file others can read is named in the warning; a private one is not."""
    secret = tmp_path / "imap.pw"
    secret.write_text("s3cret\n", encoding="utf-8")
    secret.chmod(0o644)
    path = _config(tmp_path, {"mailboxes": [_mailbox(secret)]}, 0o600)
    warning = insecure_permission_warning(path, load_settings(path, environ={}))
    assert warning is not None
    assert "mailboxes[0].imap.password_file" in warning and str(secret) in warning
    assert "s3cret" not in warning
    secret.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert insecure_permission_warning(path, load_settings(path, environ={})) is None
