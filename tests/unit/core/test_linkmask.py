"""Masked access links: which service they point at, never anything that opens the books."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from acchub_mailbot.core.linkmask import HIDDEN, mask_link, masked_card

LINK = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com?signupcode=SECRET42#x"


def test_a_link_keeps_only_its_scheme_and_host() -> None:
    assert mask_link(LINK) == f"https://businesscentral.dynamics.com/{HIDDEN}"
    assert mask_link("HTTPS://user:pw@Example.COM:8443/p") == f"https://example.com/{HIDDEN}"


def test_no_link_stays_none_and_anything_else_is_hidden_whole() -> None:
    assert mask_link(None) is None and mask_link("") is None
    for odd in ("javascript:alert(1)", "SECRET42", "http://[::1", "mailto:a@b.example"):
        assert mask_link(odd) == HIDDEN


def test_a_card_is_copied_with_both_links_masked() -> None:
    card = {"id": 1, "name": "Contoso", "access_link": LINK, "add_client_link": None}
    masked = masked_card(card)
    assert masked["access_link"] == f"https://businesscentral.dynamics.com/{HIDDEN}"
    assert masked["add_client_link"] is None and masked["name"] == "Contoso"
    assert card["access_link"] == LINK  # the original is untouched


@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
    st.text(min_size=1, max_size=40),
)
def test_nothing_after_the_host_survives(scheme: str, host: str, secret: str) -> None:
    masked = mask_link(f"{scheme}://{host}/{secret}?code={secret}")
    assert masked is not None
    assert masked.endswith(HIDDEN)
    assert masked in (f"{scheme}://{host}/{HIDDEN}", HIDDEN)


def test_links_recorded_in_the_history_are_masked_too() -> None:
    other = "https://businesscentral.dynamics.com/x?signupcode=OLD1"
    card = {
        "id": 1, "access_link": LINK, "add_client_link": None,
        "history": [
            {"action": "added_by_hand", "changes": {"name": "Contoso", "access_link": LINK}},
            {"action": "updated", "changes": {"access_link": {"from": other, "to": LINK},
                                              "add_client_link": {"from": None, "to": other}}},
            {"action": "owner_added", "changes": {"owner": "alex@firm.example"}},
        ],
    }  # fmt: skip
    masked = masked_card(card)
    assert "signupcode" not in repr(masked)
    first, second, third = masked["history"]  # type: ignore[misc]
    assert first["changes"] == {"name": "Contoso", "access_link": mask_link(LINK)}
    assert second["changes"]["access_link"] == {"from": mask_link(other), "to": mask_link(LINK)}
    assert second["changes"]["add_client_link"]["from"] is None
    assert third == card["history"][2]  # type: ignore[index]
