"""The Clients list's query string: parsed into filters, refused with the parameter named, and
written back to the same parameters for links."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acchub_mailbot.core.clientquery import (
    MAX_PER_PAGE,
    OUTCOMES,
    PER_PAGE,
    SORTS,
    STATUSES,
    ClientQuery,
    QueryError,
    pages,
    parse_query,
)


def test_an_empty_query_is_the_first_page_of_everything_by_id() -> None:
    query = parse_query({})
    assert query == ClientQuery()
    assert (query.sort, query.descending, query.page, query.per_page) == ("id", False, 1, PER_PAGE)
    assert query.params() == {}


def test_every_filter_is_read() -> None:
    query = parse_query(
        {"status": "registered", "owner": " Alex@Firm.Example ", "accepted": "no",
         "test": "untested", "since": "2026-01-31", "until": "2026-02-01",
         "q": "  contoso   ltd ", "sort": "name", "order": "desc", "page": "3"}
    )  # fmt: skip
    assert query.status == "registered" and query.owner == "alex@firm.example"
    assert query.accepted is False and query.outcome == "untested"
    assert (query.since, query.until) == (date(2026, 1, 31), date(2026, 2, 1))
    assert query.text == "contoso ltd"
    assert (query.sort, query.descending, query.page) == ("name", True, 3)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "gone"}, "status"),
        ({"test": "maybe"}, "test"),
        ({"accepted": "perhaps"}, "accepted"),
        ({"since": "31/01/2026"}, "since"),
        ({"sort": "password"}, "sort"),
        ({"order": "up"}, "order"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"per_page": str(MAX_PER_PAGE + 1)}, "per_page"),
    ],
)
def test_a_value_the_list_cannot_use_is_refused_naming_the_parameter(
    params: dict[str, str], named: str
) -> None:
    with pytest.raises(QueryError) as refused:
        parse_query(params)
    assert str(refused.value).startswith(f"{named} must be")


def test_the_api_without_a_page_asks_for_every_match() -> None:
    assert parse_query({}, paged=False).per_page is None
    assert parse_query({"page": "2"}, paged=False).per_page == PER_PAGE


def test_pages_round_up_and_never_say_zero() -> None:
    assert [pages(n, 50) for n in (0, 1, 50, 51, 100)] == [1, 1, 1, 2, 2]
    assert pages(10_000, None) == 1


queries = st.builds(
    ClientQuery,
    status=st.none() | st.sampled_from(STATUSES),
    owner=st.none() | st.emails().map(str.lower),
    accepted=st.none() | st.booleans(),
    outcome=st.none() | st.sampled_from(OUTCOMES),
    since=st.none() | st.dates(),
    until=st.none() | st.dates(),
    text=st.none() | st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20),
    sort=st.sampled_from(SORTS),
    descending=st.booleans(),
    page=st.integers(1, 1000),
)


@given(queries)
def test_a_query_written_as_parameters_reads_back_the_same(query: ClientQuery) -> None:
    assert parse_query(query.params()) == query
