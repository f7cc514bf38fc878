"""Parameters of the Prepr-style bulk resend: the webhook selector, the event, paging."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_resend.api.params import parse_event, parse_paging, parse_webhook_selector
from webhook_resend.api.querystring import decode
from webhook_resend.errors import InvalidInputError, collect

ID_A = "0b3c5e1a-7f60-4d8e-9a51-2f4c6b7d8e90"
ID_B = "5d2e8f40-1c3a-4b6d-8e9f-a0b1c2d3e4f5"
ID_C = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def _problems(parse: Any, params: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as caught:
        parse(params)
    return {problem.field: problem.message for problem in caught.value.problems}


# -- webhook_id ---------------------------------------------------------------------------------------
def test_parse_webhook_selector_absent_selects_every_subscribed_webhook() -> None:
    assert parse_webhook_selector({"event": "content_item.changed"}) is None


def test_parse_webhook_selector_eq_selects_one_id() -> None:
    assert parse_webhook_selector({"webhook_id": [{"eq": ID_A}]}) == frozenset({ID_A})


def test_parse_webhook_selector_eq_canonicalises_the_uuid() -> None:
    assert parse_webhook_selector({"webhook_id": [{"eq": ID_A.upper()}]}) == frozenset({ID_A})


def test_parse_webhook_selector_in_selects_every_listed_id() -> None:
    assert parse_webhook_selector({"webhook_id": [{"in": [ID_A, ID_B]}]}) == frozenset({ID_A, ID_B})


@pytest.mark.parametrize(
    ("object_form", "list_form"),
    [
        ({"eq": ID_A}, [{"eq": ID_A}]),
        ({"in": [ID_A, ID_B]}, [{"in": [ID_A, ID_B]}]),
    ],
)
def test_parse_webhook_selector_object_form_means_the_same_as_the_list_form(
    object_form: dict[str, Any], list_form: list[dict[str, Any]]
) -> None:
    assert parse_webhook_selector({"webhook_id": object_form}) == parse_webhook_selector(
        {"webhook_id": list_form}
    )


def test_parse_webhook_selector_conditions_in_a_list_must_all_hold() -> None:
    selector = {"webhook_id": [{"in": [ID_A, ID_B, ID_C]}, {"in": [ID_B, ID_C]}, {"eq": ID_C}]}

    assert parse_webhook_selector(selector) == frozenset({ID_C})


def test_parse_webhook_selector_operators_in_one_object_must_all_hold() -> None:
    assert parse_webhook_selector({"webhook_id": {"in": [ID_A, ID_B], "eq": ID_B}}) == frozenset({ID_B})


def test_parse_webhook_selector_disjoint_conditions_select_nothing_never_everything() -> None:
    selected = parse_webhook_selector({"webhook_id": [{"eq": ID_A}, {"eq": ID_B}]})

    assert selected == frozenset()


def test_parse_webhook_selector_reads_the_qs_bracket_encoding() -> None:
    assert parse_webhook_selector(decode(f"webhook_id[0][eq]={ID_A}")) == frozenset({ID_A})
    assert parse_webhook_selector(decode(f"webhook_id[0][in][0]={ID_A}&webhook_id[0][in][1]={ID_B}")) == (
        frozenset({ID_A, ID_B})
    )
    assert parse_webhook_selector(decode(f"webhook_id[eq]={ID_B}")) == frozenset({ID_B})


def test_parse_webhook_selector_bad_uuid_in_eq_names_the_condition() -> None:
    problems = _problems(parse_webhook_selector, {"webhook_id": [{"eq": "not-a-uuid"}]})

    assert list(problems) == ["webhook_id[0].eq"]
    assert "not-a-uuid" in problems["webhook_id[0].eq"]


def test_parse_webhook_selector_bad_uuid_in_a_list_names_its_index() -> None:
    problems = _problems(parse_webhook_selector, {"webhook_id": [{"in": [ID_A, "nope"]}]})

    assert list(problems) == ["webhook_id[0].in[1]"]


def test_parse_webhook_selector_bad_uuid_in_the_object_form_names_the_operator() -> None:
    assert list(_problems(parse_webhook_selector, {"webhook_id": {"eq": "nope"}})) == ["webhook_id.eq"]


@pytest.mark.parametrize("value", [123, None, True, ["x"], {"id": ID_A}])
def test_parse_webhook_selector_eq_of_a_non_string_is_invalid(value: Any) -> None:
    # A value that is no webhook id must be a 422, not a selection of no webhooks.
    assert list(_problems(parse_webhook_selector, {"webhook_id": [{"eq": value}]})) == ["webhook_id[0].eq"]


def test_parse_webhook_selector_in_with_a_non_string_element_is_invalid() -> None:
    problems = _problems(parse_webhook_selector, {"webhook_id": [{"in": [ID_A, 42]}]})

    assert list(problems) == ["webhook_id[0].in[1]"]


@pytest.mark.parametrize("operand", ["abc", [], {}, None])
def test_parse_webhook_selector_in_needs_a_non_empty_list(operand: Any) -> None:
    assert list(_problems(parse_webhook_selector, {"webhook_id": [{"in": operand}]})) == ["webhook_id[0].in"]


def test_parse_webhook_selector_in_with_more_than_100_ids_is_invalid() -> None:
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(101)]

    assert list(_problems(parse_webhook_selector, {"webhook_id": [{"in": ids}]})) == ["webhook_id[0].in"]


@pytest.mark.parametrize("operator", ["ne", "nin", "gt", "EQ", "like"])
def test_parse_webhook_selector_unknown_operator_names_it(operator: str) -> None:
    problems = _problems(parse_webhook_selector, {"webhook_id": [{operator: ID_A}]})

    assert list(problems) == [f"webhook_id[0].{operator}"]
    assert operator in problems[f"webhook_id[0].{operator}"]


def test_parse_webhook_selector_unknown_operator_next_to_a_known_one_is_still_invalid() -> None:
    problems = _problems(parse_webhook_selector, {"webhook_id": [{"eq": ID_A, "nin": [ID_B]}]})

    assert list(problems) == ["webhook_id[0].nin"]


@pytest.mark.parametrize("value", [ID_A, [], None, 7, [ID_A], [[{"eq": ID_A}]]])
def test_parse_webhook_selector_of_something_that_is_no_condition_is_invalid(value: Any) -> None:
    problems = _problems(parse_webhook_selector, {"webhook_id": value})

    assert problems
    assert all(field.startswith("webhook_id") for field in problems)


def test_parse_webhook_selector_empty_condition_object_is_invalid() -> None:
    assert list(_problems(parse_webhook_selector, {"webhook_id": [{}]})) == ["webhook_id[0]"]


def test_parse_webhook_selector_reports_every_problem_at_once() -> None:
    problems = _problems(parse_webhook_selector, {"webhook_id": [{"eq": "bad"}, {"ne": ID_A}]})

    assert set(problems) == {"webhook_id[0].eq", "webhook_id[1].ne"}


# -- event --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "event",
    [
        "content_item.created",
        "content_item.changed",
        "content_item.published",
        "content_item.unpublished",
        "content_item.deleted",
    ],
)
def test_parse_event_accepts_every_webhook_event(event: str) -> None:
    assert parse_event({"event": event}) == event


def test_parse_event_is_required() -> None:
    problems = _problems(parse_event, {})

    assert list(problems) == ["event"]
    assert "required" in problems["event"]


def test_parse_event_may_be_optional() -> None:
    assert parse_event({}, required=False) is None


@pytest.mark.parametrize(
    "event", ["content_item.exploded", "Content_Item.Changed", "", ["content_item.changed"], 1]
)
def test_parse_event_unknown_event_is_invalid(event: Any) -> None:
    problems = _problems(parse_event, {"event": event})

    assert list(problems) == ["event"]
    assert "content_item.changed" in problems["event"]  # the message lists what is allowed


# -- paging -------------------------------------------------------------------------------------------
def test_parse_paging_defaults_to_skip_0_and_limit_25() -> None:
    assert parse_paging({}) == (0, 25)


def test_parse_paging_reads_strings_from_query_strings() -> None:
    assert parse_paging(decode("skip=50&limit=10")) == (50, 10)


@pytest.mark.parametrize(("skip", "limit"), [(0, 1), (0, 1000), (999_999, 25), (3, 7.0)])
def test_parse_paging_accepts_the_bounds(skip: int, limit: float) -> None:
    assert parse_paging({"skip": skip, "limit": limit}) == (skip, int(limit))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": -5}, "limit"),
        ({"skip": -1}, "skip"),
        ({"skip": "-1"}, "skip"),
        ({"skip": "ten"}, "skip"),
        ({"limit": "1e3"}, "limit"),
        ({"limit": 2.5}, "limit"),
        ({"limit": True}, "limit"),
        ({"skip": None}, "skip"),
        ({"skip": [1]}, "skip"),
    ],
)
def test_parse_paging_out_of_range_or_not_a_number_names_the_field(
    params: dict[str, Any], field: str
) -> None:
    problems = _problems(parse_paging, params)

    assert list(problems) == [field]


def test_parse_paging_honours_a_smaller_maximum() -> None:
    assert parse_paging({"limit": 100}, max_limit=100) == (0, 100)
    assert list(_problems(lambda p: parse_paging(p, max_limit=100), {"limit": 101})) == ["limit"]


def test_parse_paging_reports_both_fields_at_once() -> None:
    assert set(_problems(parse_paging, {"skip": -1, "limit": 1001})) == {"skip", "limit"}


def test_collect_reports_the_problems_of_every_parser_together() -> None:
    params = {"event": "nope", "webhook_id": [{"eq": "bad"}], "limit": 0}

    with pytest.raises(InvalidInputError) as caught:
        collect(
            lambda: parse_event(params),
            lambda: parse_webhook_selector(params),
            lambda: parse_paging(params),
        )

    assert {p.field for p in caught.value.problems} == {"event", "webhook_id[0].eq", "limit"}
