"""Reading ``Authentication-Results`` headers, and whether they vouch for a sender's domain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acchub_mailbot.core.authresults import (
    aligned,
    parse_header,
    parse_headers,
    split_header_values,
    trusted_results,
    vouch_for,
)
from acchub_mailbot.core.messages import parse_message

MX = "mx.firm.example"

#: Shapes written by real receiving servers (trimmed signatures).
GMAIL = (
    "mx.google.com;\r\n       dkim=pass header.i=@firm.example header.s=20230601 header.b=Abc/+=;"
    "\r\n       spf=pass (google.com: domain of alice@firm.example designates 192.0.2.1 as "
    "permitted sender) smtp.mailfrom=alice@firm.example;\r\n       dmarc=pass (p=NONE sp=NONE "
    "dis=NONE) header.from=firm.example"
)
MICROSOFT = (
    "spf.protection.outlook.com; spf=pass (sender IP is 192.0.2.1)\r\n smtp.mailfrom=firm.example; "
    "dkim=pass (signature was verified)\r\n header.d=firm.example;dmarc=pass action=none\r\n "
    "header.from=firm.example;compauth=pass reason=100"
)
OPENDMARC = f"{MX}; dmarc=pass (p=reject dis=none) header.from=firm.example"


def test_parses_methods_results_and_properties() -> None:
    """Every clause gives its method, result, properties and reason, comments removed."""
    header = parse_header(MICROSOFT)
    assert header.authserv_id == "spf.protection.outlook.com"
    assert [(r.method, r.result) for r in header.results] == [
        ("spf", "pass"),
        ("dkim", "pass"),
        ("dmarc", "pass"),
        ("compauth", "pass"),
    ]
    assert header.results[0].prop("smtp.mailfrom") == "firm.example"
    assert header.results[1].prop("header.d") == "firm.example"
    assert header.results[2].prop("header.from") == "firm.example"
    assert header.results[3].reason == "100"


@pytest.mark.parametrize(
    ("value", "authserv_id", "results"),
    [
        ("example.org 1; none", "example.org", []),
        ("example.org; none", "example.org", []),
        (
            'example.com; dkim=pass reason="good signature" header.i=@mail-router.example.net',
            "example.com",
            [("dkim", "pass")],
        ),
        (
            "example.com; spf=pass smtp.mailfrom=example.net (a comment; with ; semicolons)",
            "example.com",
            [("spf", "pass")],
        ),
        (
            "example.com; auth=pass (cram-md5) smtp.auth=sender@example.net; "
            "spf=pass smtp.mailfrom=example.net",
            "example.com",
            [("auth", "pass"), ("spf", "pass")],
        ),
        ("example.com; dkim/1 = PASS header.d = example.net", "example.com", [("dkim", "pass")]),
        (
            "MX.Example.COM.; dmarc=fail header.from=x.example",
            "mx.example.com",
            [("dmarc", "fail")],
        ),
        ("spf=pass smtp.mailfrom=firm.example", None, []),
        ("", None, []),
        ("example.com extra words; dmarc=pass header.from=firm.example", None, [("dmarc", "pass")]),
        ("example.com; =pass; dmarc=; header.from=x; spf=pass", "example.com", [("spf", "pass")]),
        (
            "(only (nested) comment) example.com; dmarc=pass (unclosed",
            "example.com",
            [("dmarc", "pass")],
        ),
    ],
)
def test_parses_rfc8601_examples_and_malformed_forms(
    value: str, authserv_id: str | None, results: list[tuple[str, str]]
) -> None:
    """RFC 8601 appendix forms parse; broken ones give fewer results and never an authserv-id
    they do not start with."""
    header = parse_header(value)
    assert header.authserv_id == authserv_id
    assert [(r.method, r.result) for r in header.results] == results


def test_message_keeps_each_header_with_its_folding() -> None:
    """Headers read from a parsed message split back into one value each, folded lines intact."""
    raw = (
        f"Authentication-Results: {MX};\r\n\tdkim=pass header.d=firm.example;\r\n"
        " dmarc=pass (p=none;\r\n  folded comment) header.from=firm.example\r\n"
        "Authentication-Results: other.example; spf=fail smtp.mailfrom=firm.example\r\n"
        "From: alice@firm.example\r\nSubject: x\r\n\r\nbody\r\n"
    ).encode()
    values = split_header_values(parse_message(raw).headers["authentication-results"])
    assert len(values) == 2
    first, second = parse_headers(values)
    assert first.authserv_id == MX
    assert [(r.method, r.result) for r in first.results] == [("dkim", "pass"), ("dmarc", "pass")]
    assert second.authserv_id == "other.example"


@pytest.mark.parametrize(
    ("headers", "vouched", "reason"),
    [
        ([OPENDMARC], True, "DMARC pass"),
        ([f"{MX}; dmarc=fail (p=reject) header.from=firm.example"], False, "DMARC fail"),
        (
            [f"{MX}; dmarc=pass header.from=other.example"],
            False,
            "no aligned pass for firm.example (no DMARC, SPF or DKIM result)",
        ),
        (
            [
                f"{MX}; dmarc=none header.from=firm.example; "
                "spf=pass smtp.mailfrom=bounce@mail.firm.example"
            ],
            True,
            "SPF pass, aligned (mail.firm.example)",
        ),
        (
            [f"{MX}; spf=pass smtp.mailfrom=firm.example.evil.example"],
            False,
            "no aligned pass for firm.example (spf=pass)",
        ),
        (
            [f"{MX}; dkim=pass header.d=firm.example header.i=@other.example"],
            True,
            "DKIM pass, aligned (firm.example)",
        ),
        (
            [f"{MX}; dkim=pass header.i=alice@firm.example"],
            True,
            "DKIM pass, aligned (firm.example)",
        ),
        (
            [f"{MX}; dkim=fail header.d=firm.example; spf=softfail smtp.mailfrom=firm.example"],
            False,
            "no aligned pass for firm.example (dkim=fail, spf=softfail)",
        ),
        ([f"{MX}; dmarc=none header.from=firm.example"], False, "DMARC none"),
        # DMARC fail means no aligned pass exists; an aligned pass next to it is a forgery.
        (
            [f"{MX}; dmarc=fail header.from=firm.example; spf=pass smtp.mailfrom=firm.example"],
            False,
            "DMARC fail",
        ),
        ([], False, f"no Authentication-Results from {MX}"),
        (
            ["evil.example; dmarc=pass header.from=firm.example"],
            False,
            f"no Authentication-Results from {MX}",
        ),
    ],
)
def test_vouches_only_for_a_passing_aligned_result(
    headers: list[str], vouched: bool, reason: str
) -> None:
    """DMARC pass for the domain, or an aligned SPF/DKIM pass, vouches; anything else does not."""
    result = vouch_for(headers, "alice@firm.example", MX)
    assert (result.vouched, result.reason) == (vouched, reason)


def test_gmail_and_microsoft_headers_vouch_under_their_own_authserv_id() -> None:
    """The header shapes of two large providers vouch when their authserv-id is the trusted one."""
    assert vouch_for([GMAIL], "firm.example", "mx.google.com").vouched
    assert vouch_for([MICROSOFT], "Alice@FIRM.example", "SPF.protection.outlook.com").vouched
    assert not vouch_for([GMAIL], "firm.example", MX).vouched


def test_headers_below_another_server_do_not_count() -> None:
    """A header with the trusted authserv-id written by the sender, below another server's, is
    ignored: only the topmost run of trusted headers was added by our server."""
    forged = f"{MX}; dmarc=pass header.from=firm.example"
    relay = "relay.elsewhere.example; spf=pass smtp.mailfrom=attacker.example"
    result = vouch_for([relay, forged], "firm.example", MX)
    assert not result.vouched
    assert result.missing
    assert trusted_results(parse_headers([relay, forged]), MX) == []


def test_several_headers_of_our_server_combine() -> None:
    """Servers that write one header per check (OpenDKIM, OpenDMARC) are read together."""
    headers = [
        f"{MX}; spf=pass smtp.mailfrom=attacker.example",
        f"{MX}; dkim=pass header.d=firm.example",
        "relay.elsewhere.example; dkim=fail",
        f"{MX}; dmarc=pass header.from=firm.example",
    ]
    results = trusted_results(parse_headers(headers), MX)
    assert [r.method for r in results] == ["spf", "dkim"]
    assert vouch_for(headers, "firm.example", MX).reason == "DKIM pass, aligned (firm.example)"


def test_a_failing_dmarc_result_wins_over_a_forged_pass() -> None:
    """When our server did not strip a forged pass, the real failure next to it still decides."""
    headers = [
        f"{MX}; dmarc=fail (p=none) header.from=firm.example",
        f"{MX}; dmarc=pass header.from=firm.example",
    ]
    assert vouch_for(headers, "firm.example", MX).reason == "DMARC fail"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("firm.example", "firm.example", True),
        ("FIRM.example.", "firm.example", True),
        ("bounces.firm.example", "firm.example", True),
        ("firm.example", "eu.mail.firm.example", True),
        ("a.firm.example", "b.firm.example", False),
        ("alice.github.io", "mallory.github.io", False),
        ("evilfirm.example", "firm.example", False),
        ("firm.example.evil.example", "firm.example", False),
        ("example", "firm.example", False),
        ("", "firm.example", False),
    ],
)
def test_alignment_is_equality_or_subdomain(a: str, b: str, expected: bool) -> None:
    """Relaxed alignment without the Public Suffix List: equal domains or one inside the other."""
    assert aligned(a, b) is expected


@given(st.lists(st.text(max_size=300), max_size=5), st.text(max_size=60))
def test_hostile_headers_never_raise(values: list[str], domain: str) -> None:
    """Any text at all parses and gets an answer; parsing never raises."""
    parse_headers(values)
    assert isinstance(vouch_for(values, domain, MX).vouched, bool)


@given(
    st.lists(
        st.text(alphabet=st.sampled_from(list('ab.=;()"\\ \r\n\t@/-')), max_size=200), max_size=4
    )
)
def test_syntax_soup_never_raises(values: list[str]) -> None:
    """Unbalanced quotes, comments, escapes and separators parse without raising."""
    for header in parse_headers(values):
        assert header.authserv_id is None or header.authserv_id.strip() == header.authserv_id


def test_oversized_input_is_cut_not_choked_on() -> None:
    """A huge header or a flood of headers is bounded in time and size."""
    huge = f"{MX}; " + "; ".join(f"spf{i}=pass" for i in range(10000))
    assert len(parse_header(huge).results) <= 64
    assert len(parse_headers([OPENDMARC] * 1000)) == 64
