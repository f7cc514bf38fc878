"""The item filter language: parsing, problems with their paths, matching and the index range."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webhook_resend import clock
from webhook_resend.api.querystring import decode
from webhook_resend.errors import InvalidInputError
from webhook_resend.resends.filters import ITEM_FILTER_FIELDS, ItemFilter, parse_item_filter

ID_A = "0b3c5e1a-7f60-4d8e-9a51-2f4c6b7d8e90"
ID_B = "5d2e8f40-1c3a-4b6d-8e9f-a0b1c2d3e4f5"
T1 = "2024-01-02T03:04:05.006Z"
T2 = "2024-02-03T04:05:06.007Z"
T3 = "2024-03-04T05:06:07.008Z"


def _problems(params: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as caught:
        parse_item_filter(params, **kwargs)
    return {problem.field: problem.message for problem in caught.value.problems}


def _record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": ID_A,
        "model": "Post",
        "tags": ["news", "sport"],
        "workflow_stage": "Done",
        "locales": ["en-GB", "nl-NL"],
        "created_on": T2,
        "changed_on": T2,
        "publish_on": T2,
    }
    record.update(overrides)
    return record


def _matches(params: dict[str, Any], record: dict[str, Any]) -> bool:
    return parse_item_filter(params).matches(record)


# -- parsing ----------------------------------------------------------------------------------------
def test_item_filter_fields_are_the_spec_fields():
    assert {
        "id",
        "model",
        "workflow_stage",
        "locales",
        "tags",
        "created_on",
        "changed_on",
        "publish_on",
    } == ITEM_FILTER_FIELDS


def test_parse_item_filter_no_params_is_empty():
    item_filter = parse_item_filter({})

    assert item_filter.is_empty
    assert item_filter.as_dict() == {}


def test_parse_item_filter_skips_allowed_extra():
    item_filter = parse_item_filter({"skip": "x", "limit": 5}, allowed_extra=("skip", "limit"))

    assert item_filter.is_empty


def test_parse_item_filter_with_a_condition_is_not_empty():
    assert not parse_item_filter({"model": {"eq": "Post"}}).is_empty


@pytest.mark.parametrize("field", ["model", "workflow_stage", "tags", "locales"])
def test_parse_item_filter_eq(field):
    assert parse_item_filter({field: {"eq": "x"}}).as_dict() == {field: [{"eq": "x"}]}


@pytest.mark.parametrize("field", ["model", "workflow_stage", "tags", "locales"])
def test_parse_item_filter_in_sorts_and_deduplicates_values(field):
    item_filter = parse_item_filter({field: {"in": ["b", "a", "b"]}})

    assert item_filter.as_dict() == {field: [{"in": ["a", "b"]}]}


def test_parse_item_filter_id_eq_is_lowercased():
    item_filter = parse_item_filter({"id": {"eq": ID_A.upper()}})

    assert item_filter.as_dict() == {"id": [{"eq": ID_A}]}


def test_parse_item_filter_id_in_is_lowercased():
    item_filter = parse_item_filter({"id": [{"in": [ID_B.upper(), ID_A]}]})

    assert item_filter.as_dict() == {"id": [{"in": [ID_A, ID_B]}]}


@pytest.mark.parametrize("operator", ["gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("field", ["created_on", "changed_on", "publish_on"])
def test_parse_item_filter_time_operator(field, operator):
    item_filter = parse_item_filter({field: {operator: T1}})

    assert item_filter.as_dict() == {field: [{operator: T1}]}


def test_parse_item_filter_time_is_normalised_to_canonical_utc():
    item_filter = parse_item_filter({"created_on": {"gte": "2024-01-02T05:04:05.006+02:00"}})

    assert item_filter.as_dict() == {"created_on": [{"gte": T1}]}


def test_parse_item_filter_date_only_means_midnight_utc():
    item_filter = parse_item_filter({"publish_on": {"lt": "2024-01-02"}})

    assert item_filter.as_dict() == {"publish_on": [{"lt": "2024-01-02T00:00:00.000Z"}]}


@pytest.mark.parametrize(
    ("operator", "normalised"),
    [("gt", "gt"), ("gte", "gt"), ("lt", "lte"), ("lte", "lte")],
)
def test_parse_item_filter_sub_millisecond_bound_keeps_its_meaning(operator, normalised):
    item_filter = parse_item_filter({"created_on": {operator: "2024-01-02T03:04:05.006500Z"}})

    assert item_filter.as_dict() == {"created_on": [{normalised: T1}]}


def test_parse_item_filter_object_and_list_forms_are_equal():
    as_object = parse_item_filter({"model": {"eq": "Post"}, "created_on": {"gte": T1}})
    as_list = parse_item_filter({"model": [{"eq": "Post"}], "created_on": [{"gte": T1}]})

    assert as_object == as_list


def test_parse_item_filter_multi_operator_condition_equals_separate_conditions():
    together = parse_item_filter({"created_on": {"gte": T1, "lt": T2}})
    apart = parse_item_filter({"created_on": [{"gte": T1}, {"lt": T2}]})

    assert together == apart
    assert together.as_dict() == {"created_on": [{"gte": T1}, {"lt": T2}]}


def test_parse_item_filter_condition_order_does_not_matter():
    first = parse_item_filter({"tags": [{"eq": "a"}, {"eq": "b"}], "model": {"eq": "Post"}})
    second = parse_item_filter({"model": {"eq": "Post"}, "tags": [{"eq": "b"}, {"eq": "a"}]})

    assert first == second


def test_parse_item_filter_reads_a_decoded_prepr_query_string():
    params = decode(
        f"event=content_item.changed&limit=25&model[eq]=Post&tags[0][in][0]=a&tags[0][in][1]=b"
        f"&webhook_id[0][eq]={ID_A}&created_on[gte]={T1}"
    )

    item_filter = parse_item_filter(params, allowed_extra=("event", "limit", "skip", "webhook_id"))

    assert item_filter.as_dict() == {
        "model": [{"eq": "Post"}],
        "tags": [{"in": ["a", "b"]}],
        "created_on": [{"gte": T1}],
    }


def test_item_filter_as_dict_round_trips_through_json():
    item_filter = parse_item_filter(
        {
            "id": {"in": [ID_B, ID_A]},
            "model": {"eq": "Post"},
            "workflow_stage": {"in": ["Done", "Review"]},
            "locales": {"eq": "en-GB"},
            "tags": [{"eq": "a"}, {"in": ["b", "c"]}],
            "created_on": {"gt": T1, "lte": T3},
            "changed_on": {"gte": T1},
            "publish_on": {"lt": T2},
        }
    )

    restored = parse_item_filter(json.loads(json.dumps(item_filter.as_dict())))

    assert restored == item_filter


# -- problems, each with its path -----------------------------------------------------------------
def test_parse_item_filter_unknown_field_is_named_with_allowed_filters():
    problems = _problems({"colour": {"eq": "red"}})

    assert list(problems) == ["colour"]
    assert problems["colour"].startswith("unknown field 'colour'; allowed filters: id, model,")


def test_parse_item_filter_unknown_field_message_lists_other_parameters():
    problems = _problems({"colour": {"eq": "red"}}, allowed_extra=("skip", "limit"))

    assert problems["colour"].endswith("other parameters: limit, skip")


def test_parse_item_filter_unknown_field_never_widens_a_valid_filter():
    problems = _problems({"model": {"eq": "Post"}, "modle": {"eq": "Page"}})

    assert list(problems) == ["modle"]


def test_parse_item_filter_unknown_operator_in_object():
    problems = _problems({"model": {"like": "Po%"}})

    assert problems == {"model.like": "unknown operator 'like'; allowed: eq, in"}


def test_parse_item_filter_unknown_operator_in_list():
    problems = _problems({"tags": [{"eq": "a"}, {"contains": "b"}]})

    assert problems == {"tags[1].contains": "unknown operator 'contains'; allowed: eq, in"}


def test_parse_item_filter_time_operator_on_text_field():
    problems = _problems({"model": {"gt": "A"}})

    assert problems == {"model.gt": "operator 'gt' does not apply to model; allowed: eq, in"}


def test_parse_item_filter_match_operator_on_time_field():
    problems = _problems({"created_on": [{"eq": T1}]})

    assert problems == {
        "created_on[0].eq": "operator 'eq' does not apply to created_on; allowed: gt, gte, lt, lte"
    }


def test_parse_item_filter_plain_string_suggests_eq():
    problems = _problems({"model": "Post"})

    assert list(problems) == ["model"]
    assert "model[eq]=Post" in problems["model"]


def test_parse_item_filter_plain_string_on_time_field_suggests_time_operator():
    problems = _problems({"created_on": T1})

    assert list(problems) == ["created_on"]
    assert f"created_on[gt]={T1}" in problems["created_on"]


def test_parse_item_filter_plain_string_in_list_names_the_element():
    problems = _problems(decode("tags[0]=x"))

    assert list(problems) == ["tags[0]"]
    assert "tags[0][eq]=x" in problems["tags[0]"]


def test_parse_item_filter_repeated_plain_key_names_each_element():
    problems = _problems(decode("model=a&model=b"))

    assert list(problems) == ["model[0]", "model[1]"]


def test_parse_item_filter_null_condition():
    assert list(_problems({"model": None})) == ["model"]


def test_parse_item_filter_empty_condition_list():
    assert list(_problems({"tags": []})) == ["tags"]


def test_parse_item_filter_empty_condition_object():
    problems = _problems({"tags": [{}]})

    assert problems == {"tags[0]": "is an empty condition; give at least one of: eq, in"}


def test_parse_item_filter_nested_list_condition():
    assert list(_problems({"tags": [[{"eq": "a"}]]})) == ["tags[0]"]


def test_parse_item_filter_eq_with_list_suggests_in():
    problems = _problems(decode("model[eq]=a&model[eq]=b"))

    assert list(problems) == ["model.eq"]
    assert "use 'in'" in problems["model.eq"]


def test_parse_item_filter_eq_with_number():
    assert list(_problems({"workflow_stage": {"eq": 3}})) == ["workflow_stage.eq"]


def test_parse_item_filter_eq_with_empty_string():
    assert _problems({"model": {"eq": ""}}) == {"model.eq": "must not be empty"}


def test_parse_item_filter_in_with_plain_string_shows_list_form():
    problems = _problems(decode("tags[0][in]=a"))

    assert list(problems) == ["tags[0].in"]
    assert "tags[0][in][0]=a" in problems["tags[0].in"]


def test_parse_item_filter_in_with_empty_list():
    assert list(_problems({"tags": {"in": []}})) == ["tags.in"]


def test_parse_item_filter_in_with_more_than_1000_values():
    problems = _problems({"tags": {"in": [f"t{index}" for index in range(1001)]}})

    assert problems == {"tags.in": "has 1001 values; at most 1000"}


def test_parse_item_filter_in_with_1000_values_is_allowed():
    item_filter = parse_item_filter({"tags": {"in": [f"t{index}" for index in range(1000)]}})

    assert len(item_filter.as_dict()["tags"][0]["in"]) == 1000


def test_parse_item_filter_in_with_non_string_element():
    assert list(_problems({"locales": {"in": ["en", 5]}})) == ["locales.in[1]"]


def test_parse_item_filter_id_eq_not_a_uuid():
    assert _problems({"id": {"eq": "abc"}}) == {"id.eq": "'abc' is not a UUID"}


def test_parse_item_filter_id_in_element_not_a_uuid():
    assert list(_problems({"id": [{"in": [ID_A, "nope"]}]})) == ["id[0].in[1]"]


def test_parse_item_filter_time_not_iso():
    problems = _problems({"created_on": [{"gte": "yesterday"}]})

    assert problems == {"created_on[0].gte": "must be an ISO 8601 date-time such as 2024-01-02T03:04:05Z"}


def test_parse_item_filter_time_not_a_string():
    assert list(_problems({"publish_on": {"lt": 1704164645}})) == ["publish_on.lt"]


def test_parse_item_filter_time_before_year_1000_keeps_fixed_width():
    item_filter = parse_item_filter({"changed_on": {"gt": "0999-12-31T00:00:00Z"}})
    assert item_filter.as_dict() == {"changed_on": [{"gt": "0999-12-31T00:00:00.000Z"}]}


def test_parse_item_filter_time_out_of_range_does_not_crash():
    assert list(_problems({"created_on": {"gte": "0001-01-01T00:00:00+01:00"}})) == ["created_on.gte"]


def test_parse_item_filter_reports_every_problem():
    problems = _problems(
        {
            "colour": {"eq": "red"},
            "model": "Post",
            "tags": [{"like": "a"}, {"in": []}],
            "created_on": {"gte": "soon", "lt": T1},
        }
    )

    assert list(problems) == ["colour", "model", "tags[0].like", "tags[1].in", "created_on.gte"]


# -- matches --------------------------------------------------------------------------------------
def test_item_filter_empty_matches_everything():
    assert ItemFilter().matches({})


@pytest.mark.parametrize(("model", "expected"), [("Post", True), ("Page", False), ("post", False)])
def test_item_filter_matches_scalar_eq(model, expected):
    assert _matches({"model": {"eq": "Post"}}, _record(model=model)) is expected


@pytest.mark.parametrize(("stage", "expected"), [("Done", True), ("Review", True), ("Draft", False)])
def test_item_filter_matches_scalar_in(stage, expected):
    assert _matches({"workflow_stage": {"in": ["Done", "Review"]}}, _record(workflow_stage=stage)) is expected


@pytest.mark.parametrize("operator", ["eq", "in"])
def test_item_filter_missing_workflow_stage_never_matches(operator):
    operand = "Done" if operator == "eq" else ["Done"]

    assert not _matches({"workflow_stage": {operator: operand}}, _record(workflow_stage=None))


def test_item_filter_matches_id_case_insensitively():
    assert _matches({"id": {"eq": ID_A}}, _record(id=ID_A.upper()))


@pytest.mark.parametrize(("record_id", "expected"), [(ID_A, True), (ID_B, False)])
def test_item_filter_matches_id_in(record_id, expected):
    assert _matches({"id": {"in": [ID_A]}}, _record(id=record_id)) is expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [(["news", "sport"], True), (["news"], False), ([], False), (None, False)],
)
def test_item_filter_matches_list_eq_when_value_is_an_element(tags, expected):
    assert _matches({"tags": {"eq": "sport"}}, _record(tags=tags)) is expected


@pytest.mark.parametrize(
    ("locales", "expected"),
    [(["en-GB", "nl-NL"], True), (["de-DE", "nl-NL"], True), (["de-DE"], False), ([], False)],
)
def test_item_filter_matches_list_in_when_any_element_is_listed(locales, expected):
    assert _matches({"locales": {"in": ["en-GB", "nl-NL"]}}, _record(locales=locales)) is expected


def test_item_filter_missing_list_is_empty():
    record = _record()
    del record["tags"]

    assert not _matches({"tags": {"in": ["news"]}}, record)


def test_item_filter_list_field_given_as_string_is_not_searched_for_substrings():
    assert not _matches({"tags": {"eq": "new"}}, _record(tags="news"))


@pytest.mark.parametrize(
    ("operator", "record_time", "expected"),
    [
        ("gt", T1, False),
        ("gt", T2, False),
        ("gt", T3, True),
        ("gte", T1, False),
        ("gte", T2, True),
        ("gte", T3, True),
        ("lt", T1, True),
        ("lt", T2, False),
        ("lt", T3, False),
        ("lte", T1, True),
        ("lte", T2, True),
        ("lte", T3, False),
    ],
)
def test_item_filter_matches_time_operators(operator, record_time, expected):
    assert _matches({"changed_on": {operator: T2}}, _record(changed_on=record_time)) is expected


@pytest.mark.parametrize("operator", ["gt", "gte", "lt", "lte"])
def test_item_filter_missing_time_never_matches(operator):
    assert not _matches({"publish_on": {operator: T2}}, _record(publish_on=None))


@pytest.mark.parametrize("operator", ["gt", "gte", "lt", "lte"])
def test_item_filter_absent_time_never_matches(operator):
    record = _record()
    del record["publish_on"]

    assert not _matches({"publish_on": {operator: T2}}, record)


@pytest.mark.parametrize(("created_on", "expected"), [(T1, True), (T2, False), (T3, False)])
def test_item_filter_multi_operator_condition_needs_every_operator(created_on, expected):
    params = {"created_on": {"gte": T1, "lt": T2}}

    assert _matches(params, _record(created_on=created_on)) is expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [(["a", "b"], True), (["a"], False), (["b"], False)],
)
def test_item_filter_conditions_on_one_field_must_all_hold(tags, expected):
    assert _matches({"tags": [{"eq": "a"}, {"eq": "b"}]}, _record(tags=tags)) is expected


@pytest.mark.parametrize(
    ("model", "tags", "expected"),
    [("Post", ["a"], True), ("Page", ["a"], False), ("Post", ["b"], False)],
)
def test_item_filter_conditions_on_several_fields_must_all_hold(model, tags, expected):
    params = {"model": {"eq": "Post"}, "tags": {"in": ["a"]}}

    assert _matches(params, _record(model=model, tags=tags)) is expected


# -- sort_key_range -------------------------------------------------------------------------------
def _range(params: dict[str, Any]) -> tuple[str | None, str | None]:
    return parse_item_filter(params).sort_key_range()


def test_sort_key_range_without_created_on_is_unbounded():
    assert _range({"model": {"eq": "Post"}, "changed_on": {"gte": T1}}) == (None, None)


def test_sort_key_range_gte():
    assert _range({"created_on": {"gte": T1}}) == (T1, None)


def test_sort_key_range_gt():
    assert _range({"created_on": {"gt": T1}}) == (T1 + "$", None)


def test_sort_key_range_lte():
    assert _range({"created_on": {"lte": T1}}) == (None, T1 + "$")


def test_sort_key_range_lt():
    assert _range({"created_on": {"lt": T1}}) == (None, T1)


def test_sort_key_range_gte_and_lt():
    assert _range({"created_on": {"gte": T1, "lt": T3}}) == (T1, T3)


def test_sort_key_range_takes_tightest_bounds():
    params = {"created_on": [{"gte": T1}, {"gt": T2}, {"lte": T3}, {"lt": T3}]}

    assert _range(params) == (T2 + "$", T3)


def test_sort_key_range_gt_beats_gte_at_the_same_instant():
    assert _range({"created_on": {"gt": T1, "gte": T1}}) == (T1 + "$", None)


def test_sort_key_range_lt_beats_lte_at_the_same_instant():
    assert _range({"created_on": {"lt": T1, "lte": T1}}) == (None, T1)


def test_sort_key_range_contradiction_gives_low_above_high():
    low, high = _range({"created_on": {"gt": T2, "lt": T1}})

    assert low is not None
    assert high is not None
    assert low > high


@pytest.mark.parametrize(
    ("operator", "created_on", "inside"),
    [("gt", T1, False), ("gte", T1, True), ("lt", T1, False), ("lte", T1, True)],
)
def test_sort_key_range_bound_instant_is_in_or_out_with_any_id(operator, created_on, inside):
    low, high = _range({"created_on": {operator: T1}})

    keys = [f"{created_on}#{item_id}" for item_id in (ID_A, ID_B, "00000000-0000-0000-0000-000000000000")]

    assert all(((low is None or low <= key) and (high is None or key <= high)) is inside for key in keys)


# -- generated data -------------------------------------------------------------------------------
_BASE = datetime(2024, 1, 1, tzinfo=UTC)


def _instant(rng: random.Random) -> datetime:
    # Few distinct instants a millisecond apart, so records share times with each other and with
    # the bounds.
    return _BASE + timedelta(milliseconds=rng.randrange(20))


def _generated_records(rng: random.Random, count: int = 200) -> list[dict[str, Any]]:
    records = []
    for _ in range(count):
        records.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "model": rng.choice(["Post", "Page"]),
                "tags": rng.sample(["a", "b", "c"], rng.randrange(3)),
                "created_on": clock.canonical(_instant(rng)),
                "changed_on": clock.canonical(_instant(rng)),
            }
        )
    return records


def _bound_text(rng: random.Random) -> str:
    instant = _instant(rng) + timedelta(microseconds=rng.choice([0, 0, 1, 500, 999]))
    return instant.isoformat()


def _generated_filter_params(rng: random.Random, *, created_on_only: bool) -> dict[str, Any]:
    conditions = [
        {rng.choice(["gt", "gte", "lt", "lte"]): _bound_text(rng)} for _ in range(rng.randrange(1, 4))
    ]
    params: dict[str, Any] = {"created_on": conditions}
    if not created_on_only and rng.random() < 0.5:
        params["tags"] = {"in": rng.sample(["a", "b", "c"], rng.randrange(1, 3))}
    if not created_on_only and rng.random() < 0.5:
        params["changed_on"] = {"gte": _bound_text(rng)}
    return params


def _in_range(record: dict[str, Any], bounds: tuple[str | None, str | None]) -> bool:
    key = f"{record['created_on']}#{record['id']}"
    low, high = bounds
    return (low is None or low <= key) and (high is None or key <= high)


def test_sort_key_range_never_excludes_a_match():
    rng = random.Random(20240102)
    records = _generated_records(rng)
    matched_total = 0

    for _ in range(300):
        item_filter = parse_item_filter(_generated_filter_params(rng, created_on_only=False))
        bounds = item_filter.sort_key_range()
        matched = {r["id"] for r in records if item_filter.matches(r)}
        in_range = {r["id"] for r in records if _in_range(r, bounds)}

        assert matched <= in_range
        matched_total += len(matched)

    assert matched_total > 0


def test_sort_key_range_is_exact_for_created_on_only_filters():
    rng = random.Random(7)
    records = _generated_records(rng)

    for _ in range(300):
        item_filter = parse_item_filter(_generated_filter_params(rng, created_on_only=True))
        bounds = item_filter.sort_key_range()

        assert {r["id"] for r in records if item_filter.matches(r)} == {
            r["id"] for r in records if _in_range(r, bounds)
        }


def test_item_filter_time_bounds_compare_like_instants():
    rng = random.Random(11)
    records = _generated_records(rng)
    compare = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }

    for _ in range(200):
        operator = rng.choice(sorted(compare))
        bound = _bound_text(rng)
        item_filter = parse_item_filter({"created_on": {operator: bound}})

        expected = {
            r["id"] for r in records if compare[operator](clock.parse(r["created_on"]), clock.parse(bound))
        }
        assert {r["id"] for r in records if item_filter.matches(r)} == expected


# -- what DynamoDB evaluates (ItemFilter.compiled) -----------------------------------------------------
def _compiled(params: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    condition = parse_item_filter(params).compiled().condition
    assert condition is not None
    return condition.expression, dict(condition.names), dict(condition.values)


def test_compiled_scalar_eq_is_an_equality() -> None:
    assert _compiled({"model": {"eq": "Post"}}) == ("#model = :f0", {"#model": "model"}, {":f0": "Post"})


def test_compiled_scalar_in_is_an_in_list() -> None:
    expression, _, values = _compiled({"workflow_stage": {"in": ["Done", "Draft"]}})

    assert expression == "#workflow_stage IN (:f0, :f1)"
    assert values == {":f0": "Done", ":f1": "Draft"}


def test_compiled_id_in_over_100_values_is_split_into_ors_of_100() -> None:
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(250)]

    expression, _, values = _compiled({"id": {"in": ids}})

    assert expression.count(" IN (") == 3
    assert expression.startswith("(")
    assert expression.count(" OR ") == 2
    assert sorted(values.values()) == ids


def test_compiled_list_field_eq_is_contains() -> None:
    assert _compiled({"tags": {"eq": "news"}})[0] == "contains(#tags, :f0)"


def test_compiled_list_field_in_is_an_or_of_contains() -> None:
    expression, _, values = _compiled({"locales": {"in": ["en-GB", "nl-NL"]}})

    assert expression == "(contains(#locales, :f0) OR contains(#locales, :f1))"
    assert values == {":f0": "en-GB", ":f1": "nl-NL"}


@pytest.mark.parametrize(("operator", "symbol"), [("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")])
def test_compiled_time_condition_is_a_comparison_of_canonical_times(operator: str, symbol: str) -> None:
    expression, _, values = _compiled({"publish_on": {operator: "2024-01-02T03:04:05Z"}})

    assert expression == f"#publish_on {symbol} :f0"
    assert values == {":f0": clock.canonical(clock.parse("2024-01-02T03:04:05Z"))}


def test_compiled_terms_are_a_conjunction() -> None:
    expression, _, _ = _compiled({"model": {"eq": "Post"}, "tags": [{"eq": "a"}, {"eq": "b"}]})

    assert expression.count(" AND ") == 2


def test_compiled_created_on_is_left_to_the_key_condition() -> None:
    item_filter = parse_item_filter({"created_on": {"gte": "2024-01-02T03:04:05Z"}})

    compiled = item_filter.compiled()

    assert compiled.condition is None
    assert compiled.residual.is_empty
    assert item_filter.sort_key_range()[0] is not None


def test_compiled_empty_filter_has_nothing_to_evaluate() -> None:
    compiled = ItemFilter().compiled()

    assert (compiled.condition, compiled.residual.is_empty) == (None, True)


def test_compiled_in_too_long_for_dynamodbs_expression_limit_is_residual() -> None:
    # DynamoDB takes expressions of at most 4 KB: 1000 `contains` do not fit, the model does
    item_filter = parse_item_filter(
        {"tags": {"in": [f"t{n:04d}" for n in range(1000)]}, "model": {"eq": "P"}}
    )

    compiled = item_filter.compiled()

    assert compiled.condition is not None
    assert compiled.condition.expression == "#model = :f0"
    assert [t.field for t in compiled.residual.terms] == ["tags"]
    assert len(compiled.condition.expression) < 4096
