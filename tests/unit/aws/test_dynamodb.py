"""DynamoDB attribute values: the fast paths of `to_attrs` and `from_attrs` (strings and integers)
give exactly what boto3's TypeSerializer and TypeDeserializer give, and round-trip."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from webhook_resend.aws.dynamodb import from_attrs, to_attrs

RECORD: dict[str, Any] = {
    "pk": "T#1",
    "empty": "",
    "unicode": "ë€\u2028",
    "zero": 0,
    "negative": -42,
    "big": 10**30,
    "true": True,
    "false": False,
    "decimal": Decimal("1.5"),
    "list": ["a", 1, True],
    "map": {"n": 2, "s": "x", "nested": {"b": False}},
}


def test_to_attrs_matches_boto3_and_drops_none() -> None:
    serializer = TypeSerializer()
    assert to_attrs({**RECORD, "gone": None}) == {k: serializer.serialize(v) for k, v in RECORD.items()}


def test_booleans_stay_booleans() -> None:
    assert to_attrs({"t": True, "f": False}) == {"t": {"BOOL": True}, "f": {"BOOL": False}}


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ({"N": "7"}, 7),
        ({"N": "-7"}, -7),
        ({"N": "1.5"}, 1.5),
        ({"N": "2.0"}, 2),
        ({"N": "1E+2"}, 100),
        ({"S": "7"}, "7"),
        ({"BOOL": True}, True),
        ({"NULL": True}, None),
        ({"L": [{"N": "1"}, {"S": "a"}]}, [1, "a"]),
        ({"M": {"n": {"N": "3"}}}, {"n": 3}),
    ],
)
def test_from_attrs_gives_plain_python_values(attr: dict[str, Any], expected: Any) -> None:
    [value] = from_attrs({"v": attr}).values()
    assert value == expected
    assert type(value) is type(expected)


def test_round_trip() -> None:
    plain = {k: v for k, v in RECORD.items() if k != "decimal"}
    assert from_attrs(to_attrs(plain)) == plain
    assert TypeDeserializer().deserialize(to_attrs({"n": -3})["n"]) == Decimal(-3)


def test_delivery_ids_come_back_from_the_key() -> None:
    from webhook_resend.aws import keys

    key = keys.delivery("t-1", "job-2", "item-3", "hook-4", 7)
    assert keys.delivery_ids(key["pk"], key["sk"]) == {
        "job_id": "job-2",
        "subject_id": "item-3",
        "webhook_id": "hook-4",
        "url_index": 7,
    }
