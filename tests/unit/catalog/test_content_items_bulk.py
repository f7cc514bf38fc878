"""`put_content_items` against a fake store: each element decided on its own, `created_on` kept
from the item replaced, ids canonical and never repeated, what the store did not take `failed`."""

from __future__ import annotations

from typing import Any

from webhook_resend.catalog.content_items import put_content_items
from webhook_resend.errors import FieldProblem
from webhook_resend.models.bodies import ContentItemIn
from webhook_resend.models.records import ContentItem

TENANT = "tn0123456789abcdef01234567"
A = "3f2c9a1e-6b7d-4c2a-9e8f-0a1b2c3d4e5f"
B = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
OLD = "2020-01-01T00:00:00.000Z"


class FakeStore:
    def __init__(
        self, existing: dict[str, ContentItem] | None = None, refuse: set[str] | None = None
    ) -> None:
        self.existing = existing or {}
        self.refuse = refuse or set()
        self.asked: list[tuple[str, list[str]]] = []
        self.written: list[tuple[str, list[ContentItem]]] = []

    def get_items(self, tenant_id: str, item_ids: list[str]) -> dict[str, ContentItem]:
        self.asked.append((tenant_id, list(item_ids)))
        return {i: self.existing[i] for i in item_ids if i in self.existing}

    def put_items(self, tenant_id: str, items: list[ContentItem]) -> set[str]:
        self.written.append((tenant_id, list(items)))
        return {i.id for i in items if i.id in self.refuse}


def body(**fields: Any) -> ContentItemIn:
    return ContentItemIn.model_validate({"model": "Post", **fields})


def test_put_content_items_keeps_created_on_of_the_replaced_item() -> None:
    old = ContentItem(id=A, model="Old", created_on=OLD, changed_on=OLD)
    store = FakeStore({A: old})

    outcomes = put_content_items(store, TENANT, [body(id=A), body(id=B)])  # type: ignore[arg-type]

    assert [(o.status, o.id) for o in outcomes] == [("replaced", A), ("created", B)]
    replaced, created = outcomes[0].item, outcomes[1].item
    assert replaced is not None
    assert replaced.created_on == OLD
    assert created is not None
    assert created.created_on != OLD
    assert store.asked == [(TENANT, [A, B])]
    assert [i.id for i in store.written[0][1]] == [A, B]


def test_put_content_items_canonicalises_ids_and_refuses_a_repeat() -> None:
    store = FakeStore()

    outcomes = put_content_items(store, TENANT, [body(id=A.upper()), body(id=A)])  # type: ignore[arg-type]

    assert [(o.status, o.id) for o in outcomes] == [("created", A), ("refused", A)]
    assert outcomes[1].problems == [FieldProblem("id", "repeats the id of item 0 of this request")]
    assert [i.id for i in store.written[0][1]] == [A]


def test_put_content_items_passes_validation_problems_through_and_writes_nothing_when_all_refused() -> None:
    store = FakeStore()
    problems = [FieldProblem("model", "Field required")]

    outcomes = put_content_items(store, TENANT, [problems, body()])  # type: ignore[arg-type]

    assert [o.status for o in outcomes] == ["refused", "refused"]
    assert outcomes[0].problems == problems
    assert outcomes[1].problems[0].field == "id"
    assert store.asked == []
    assert store.written == []


def test_put_content_items_answers_failed_for_what_the_store_did_not_take() -> None:
    store = FakeStore(refuse={B})

    outcomes = put_content_items(store, TENANT, [body(id=A), body(id=B)])  # type: ignore[arg-type]

    assert [o.status for o in outcomes] == ["created", "failed"]
    assert outcomes[1].item is None
    assert outcomes[1].problems[0].field == "service"
