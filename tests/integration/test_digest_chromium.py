"""The HTML digest as a real browser engine sees it: it renders at phone width, in light and dark
mode, and hostile client names stay text in the parsed DOM."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from acchub_mailbot.report.samples import sample_digest_content
from acchub_mailbot.report.templating import render_digest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 414, 1200
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def chromium(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once with a fresh profile, isolated from the network."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="acchub-chromium-")
    try:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk; fails on anything else."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixel(data: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The RGB colour of one pixel of an 8-bit RGB/RGBA PNG, decoded with the standard library."""
    width, _ = png_size(data)
    bit_depth, colour_type = data[24], data[25]
    assert bit_depth == 8 and colour_type in (2, 6), "unexpected PNG pixel format"
    channels = 3 if colour_type == 2 else 4
    idat = bytearray()
    offset = 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    previous = bytearray(stride)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        previous = line
    red, green, blue = previous[x * channels : x * channels + 3]
    return red, green, blue


def brightness(rgb: Sequence[int]) -> float:
    return sum(rgb) / 3


@pytest.fixture(scope="module")
def digest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    content = sample_digest_content()
    hostile = replace(content.registered[1], client_name=HOSTILE)
    content = replace(content, registered=(content.registered[0], hostile))
    path = tmp_path_factory.mktemp("digest") / "digest.html"
    path.write_text(render_digest(content).html, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("scheme", "flags"),
    [
        ("light", ()),
        ("dark", ("--force-dark-mode", "--blink-settings=preferredColorScheme=0")),
    ],
)
def test_digest_renders_at_phone_width(
    digest_file: Path, tmp_path: Path, scheme: str, flags: tuple[str, ...]
) -> None:
    """Chromium produces a real screenshot of the phone-sized window, and the page background
    follows the reader's colour scheme."""
    shot = tmp_path / f"digest-{scheme}.png"
    chromium(
        digest_file.as_uri(), f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", *flags
    )
    data = shot.read_bytes()
    assert png_size(data) == (WIDTH, HEIGHT)
    assert len(data) > 20_000, "a blank page compresses to almost nothing"
    background = png_pixel(data, 2, 2)
    if scheme == "light":
        assert brightness(background) > 200, background
    else:
        assert brightness(background) < 60, background


def test_dom_keeps_client_names_as_text(digest_file: Path) -> None:
    """Parsed by a browser, the digest shows every client name, and a hostile name creates no
    element: no image, no script."""
    dom = chromium(digest_file.as_uri(), "--dump-dom").stdout
    assert "Contoso Ltd" in dom
    assert "Tailspin Toys" in dom
    assert "Northwind Traders" in dom
    assert "Accept the invitation" in dom
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in dom
    lowered = dom.lower()
    assert "<img" not in lowered
    assert "<script" not in lowered
    assert 'href="https://businesscentral.dynamics.com/contoso.onmicrosoft.com' in dom
    assert "hxxps://businesscentral[.]dynamics[.]com[.]login-check[.]example/contoso" in dom
