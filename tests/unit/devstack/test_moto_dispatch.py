"""Every devstack layer together leaves every answer moto's own (devstack.moto_dispatch,
devstack.dynamodb_json, devstack.sqs_json and devstack.dynamodb_expressions are tested here).

The DynamoDB comparison scripts (test_dynamodb_index's request shapes and writes,
test_dynamodb_filter's filters over items holding strings, numbers in many forms, booleans, nulls,
string and number sets, lists and maps, and test_dynamodb_expressions' conditional writes) and the
SQS script (test_sqs_index) run through moto's HTTP application as released and with every
devstack layer installed (as `make run` has them); every answer is compared as bytes (SQS's with
its timestamps masked), and the SQS test checks that each answer devstack.sqs_json compiles was
answered so. moto's own dispatch answers are compared with the cached ones directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import moto.backends as moto_backends
import moto.core.responses as moto_responses
import pytest
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.responses import SQSResponse

from devstack import dynamodb_json, moto_dispatch, sqs_json
from devstack.aws import LAYERS
from tests.unit.devstack import (
    test_dynamodb_expressions,
    test_dynamodb_filter,
    test_dynamodb_index,
    test_sqs_index,
)
from tests.unit.devstack.compare import assert_same_answers


@pytest.fixture
def moto_as_released() -> Iterator[None]:
    """Every layer off at the start; as it was (on if a local stack ran here) at the end."""
    was = {layer: layer.installed() for layer in LAYERS}
    for layer in LAYERS:
        layer.uninstall()
    try:
        yield
    finally:
        for layer, on in was.items():
            if on:
                layer.install()
            else:
                layer.uninstall()


def install_all() -> None:
    for layer in LAYERS:
        layer.install()


def test_dynamodb_answers_with_every_layer_are_moto_s(moto_as_released: None) -> None:
    expected = test_dynamodb_index.unpatched_answers(seed=19)
    install_all()
    answered = test_dynamodb_index.run(test_dynamodb_index.script(seed=19))

    assert sum(1 for _, body in expected if b'"Items"' in body) > 100
    assert_same_answers(expected, answered)


def test_dynamodb_filter_answers_with_every_layer_are_moto_s(
    moto_as_released: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = test_dynamodb_filter.unpatched_answers(seed=7)
    install_all()
    shortcuts = 0
    plain = dynamodb_json._plain

    def counting(value: Any) -> dict[str, Any]:
        nonlocal shortcuts
        shortcuts += 1
        return plain(value)

    monkeypatch.setattr(dynamodb_json, "_plain", counting)
    answered = test_dynamodb_index.run(test_dynamodb_filter.filter_script(seed=7))

    assert shortcuts > 1000  # the attribute values took the shortcut, not moto's walk

    bodies = b"".join(body for _, body in expected)
    for kind in (b'{"SS": [', b'{"NS": [', b'{"NULL": true}', b'{"BOOL": ', b'{"M": {', b'{"L": []}'):
        assert kind in bodies  # each AttributeValue shape was answered and compared
    assert_same_answers(expected, answered)


def test_dynamodb_condition_answers_with_every_layer_are_moto_s(moto_as_released: None) -> None:
    expected = test_dynamodb_expressions.unpatched_answers()
    install_all()
    answered = test_dynamodb_index.run(test_dynamodb_expressions.expression_script())

    assert sum(1 for _, body in expected if b"ConditionalCheckFailed" in body) > 20
    assert_same_answers(expected, answered)


def test_sqs_answers_with_every_layer_are_moto_s(
    moto_as_released: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = test_sqs_index.run()
    install_all()
    answers: Counter[tuple[str, str]] = Counter()  # (operation, "compiled" or "moto's walk")
    compiled_for = sqs_json._for

    def counting(serializer: Any) -> Any:
        convert = compiled_for(serializer)
        if convert is None:
            return None

        def counted(result: Any) -> Any:
            try:
                serialized = convert(result)
            except sqs_json._NotPlain:
                answers[(serializer.operation_name, "moto's walk")] += 1
                raise
            answers[(serializer.operation_name, "compiled")] += 1
            return serialized

        return counted

    monkeypatch.setattr(sqs_json, "_for", counting)
    answered = test_sqs_index.run()

    # every operation devstack.sqs_json compiles was answered so, and compared; a binary message
    # attribute took moto's walk
    assert {operation for operation, way in answers if way == "compiled"} == sqs_json.OPERATIONS
    assert answers[("ReceiveMessage", "moto's walk")] >= 1
    assert answers[("SendMessageBatch", "compiled")] >= 4
    for kind in (
        b'"MessageAttributes": {',
        b'"SequenceNumber": "',
        b'"AWSTraceHeader": "',
        b'"SenderFault": true',
    ):
        assert any(kind in answer for answer in expected)
    assert_same_answers(expected, answered)


HOSTS = (
    "sqs.us-east-1.amazonaws.com",
    "dynamodb.eu-west-1.amazonaws.com",
    "events.us-east-1.amazonaws.com",
    "scheduler.us-east-1.amazonaws.com",
    "s3.amazonaws.com",
    "bucket.s3.amazonaws.com",
    "dynamodb",
    "sqs",
    "moto_api",
    "localhost:5000",
    "nowhere.example.com",
    "",
    None,
)


def test_dispatch_answers_what_moto_lists(moto_as_released: None) -> None:
    modules = list(moto_backends.list_of_moto_modules())
    names = {cls: moto_responses.method_names_from_class(cls) for cls in (DynamoHandler, SQSResponse)}
    app = DomainDispatcherApplication(create_backend_app)
    backends = [app.get_backend_for_host(host) for host in HOSTS]
    moto_dispatch.install()

    assert "dynamodb" in modules
    assert list(moto_backends.list_of_moto_modules()) == modules
    assert list(moto_backends.list_of_moto_modules()) == modules  # cached, and again
    for cls, listed in names.items():
        assert "query" in listed or "send_message_batch" in listed
        assert moto_responses.method_names_from_class(cls) == listed
        assert moto_responses.method_names_from_class(cls) == listed
    assert backends[:3] == ["sqs", "dynamodb", "events"]
    assert backends[-3:] == [None, None, None]
    for _ in range(2):  # found, then kept
        assert [app.get_backend_for_host(host) for host in HOSTS] == backends
        assert [
            DomainDispatcherApplication(create_backend_app).get_backend_for_host(h) for h in HOSTS
        ] == backends
