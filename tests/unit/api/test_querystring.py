"""`querystring.decode`: qs-style bracket decoding and the limits that make bad input a 422."""

from __future__ import annotations

import pytest

from webhook_resend.api.querystring import decode
from webhook_resend.errors import InvalidInputError


def _problem_fields(raw: str) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        decode(raw)
    return [problem.field for problem in caught.value.problems]


# -- what qs decodes ------------------------------------------------------------------------------
def test_decode_prepr_sdk_query_string():
    raw = "event=x&limit=25&model[eq]=Post&tags[0][in][0]=a&tags[0][in][1]=b&webhook_id[0][eq]=ID"

    assert decode(raw) == {
        "event": "x",
        "limit": "25",
        "model": {"eq": "Post"},
        "tags": [{"in": ["a", "b"]}],
        "webhook_id": [{"eq": "ID"}],
    }


def test_decode_empty_string_is_empty_dict():
    assert decode("") == {}


def test_decode_plain_pairs_stay_strings():
    assert decode("a=1&b=true") == {"a": "1", "b": "true"}


def test_decode_percent_escapes_and_plus_as_space():
    assert decode("q=a+b%20c%26d%3De") == {"q": "a b c&d=e"}


def test_decode_percent_encoded_brackets():
    assert decode("tags%5B0%5D%5Bin%5D%5B0%5D=a") == {"tags": [{"in": ["a"]}]}


def test_decode_percent_encoded_key_name():
    assert decode("work%66low_stage[eq]=done") == {"workflow_stage": {"eq": "done"}}


def test_decode_key_without_equals_has_empty_value():
    assert decode("flag&a=1") == {"flag": "", "a": "1"}


def test_decode_key_with_empty_value():
    assert decode("a=") == {"a": ""}


def test_decode_value_keeps_later_equals_signs():
    assert decode("a=b=c") == {"a": "b=c"}


def test_decode_equals_inside_brackets_stays_in_key():
    assert decode("a[b=c]=d") == {"a": {"b=c": "d"}}


def test_decode_empty_parts_are_ignored():
    assert decode("&&a=1&&") == {"a": "1"}


def test_decode_pair_without_key_is_ignored():
    assert decode("=x&a=1") == {"a": "1"}


def test_decode_leading_question_mark_is_ignored():
    assert decode("?a=1") == {"a": "1"}


def test_decode_repeated_plain_key_becomes_list():
    assert decode("a=x&a=y&a=z") == {"a": ["x", "y", "z"]}


def test_decode_empty_brackets_append():
    assert decode("a[]=x&a[]=y") == {"a": ["x", "y"]}


def test_decode_plain_key_then_empty_brackets_join_one_list():
    assert decode("a=x&a[]=y") == {"a": ["x", "y"]}


def test_decode_indexed_list_is_ordered_by_index():
    assert decode("a[1]=y&a[0]=x") == {"a": ["x", "y"]}


def test_decode_list_gaps_are_compacted():
    assert decode("a[5]=y&a[2]=x") == {"a": ["x", "y"]}


def test_decode_repeated_index_collects_values():
    # qs gathers repeated keys before reading brackets, so index 0 holds both values.
    assert decode("a[0]=x&a[0]=y") == {"a": [["x", "y"]]}


def test_decode_named_brackets_make_objects():
    assert decode("a[b][c]=1&a[b][d]=2") == {"a": {"b": {"c": "1", "d": "2"}}}


def test_decode_repeated_named_key_becomes_list():
    assert decode("model[in]=a&model[in]=b") == {"model": {"in": ["a", "b"]}}


def test_decode_objects_at_same_index_merge():
    assert decode("c[0][gte]=t1&c[0][lt]=t2&c[1][eq]=x") == {"c": [{"gte": "t1", "lt": "t2"}, {"eq": "x"}]}


def test_decode_non_canonical_index_is_object_key():
    assert decode("a[01]=x&a[-1]=y") == {"a": {"01": "x", "-1": "y"}}


def test_decode_leading_bracket_names_the_key():
    assert decode("[a]=1") == {"a": "1"}


def test_decode_unclosed_bracket_is_part_of_the_name():
    assert decode("a[b=1") == {"a[b": "1"}


def test_decode_six_brackets_deep_is_allowed():
    assert decode("a[b][c][d][e][f][g]=x") == {"a": {"b": {"c": {"d": {"e": {"f": {"g": "x"}}}}}}}


def test_decode_index_1000_is_allowed():
    assert decode("a[1000]=x") == {"a": ["x"]}


def test_decode_1000_parameters_are_allowed():
    raw = "&".join(f"k{index}=v" for index in range(1000))

    assert len(decode(raw)) == 1000


# -- limits and conflicts -------------------------------------------------------------------------
def test_decode_more_than_1000_parameters_is_refused():
    raw = "&".join(f"k{index}=v" for index in range(1001))

    assert _problem_fields(raw) == ["query"]


def test_decode_seven_brackets_deep_is_refused():
    assert _problem_fields("a[b][c][d][e][f][g][h]=x") == ["a[b][c][d][e][f][g][h]"]


def test_decode_index_above_1000_is_refused():
    assert _problem_fields("tags[1001][eq]=x") == ["tags[1001][eq]"]


def test_decode_huge_index_is_refused_without_crashing():
    key = "a[" + "9" * 5000 + "]"

    assert _problem_fields(f"{key}=x") == [key]


def test_decode_value_then_object_is_refused():
    assert _problem_fields("a=1&a[b]=2") == ["a"]


def test_decode_object_then_value_is_refused():
    assert _problem_fields("a[b]=2&a=1") == ["a"]


def test_decode_list_then_object_is_refused():
    assert _problem_fields("a[0]=1&a[b]=2") == ["a"]


def test_decode_object_then_list_is_refused():
    assert _problem_fields("a[b]=2&a[]=1") == ["a"]


def test_decode_nested_conflict_names_the_nested_key():
    assert _problem_fields("tags[0][in]=a&tags[0][in][x]=b") == ["tags[0][in]"]


def test_decode_bracket_without_name_is_refused():
    assert _problem_fields("[]=x") == ["[]"]


def test_decode_reports_every_problem():
    assert _problem_fields("a=1&a[b]=2&c[1001]=x") == ["a", "c[1001]"]


def test_decode_problem_message_says_what_to_do():
    with pytest.raises(InvalidInputError) as caught:
        decode("a=1&a[b]=2")

    assert "use one form" in caught.value.problems[0].message
