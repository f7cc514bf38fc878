"""Selection by filter with DynamoDB evaluating the filter (SPEC §10, issue 14): on moto, for a
spread of filters, the ids DynamoDB answers are exactly those `ItemFilter.matches` accepts, counts
come from Select=COUNT, a page reads no further than its last match, and a query transfers the
matching entries only."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LocalAws
from webhook_resend.aws import clients
from webhook_resend.aws.dynamodb import DeadlinePassed, Store
from webhook_resend.models.records import ContentItem
from webhook_resend.resends.filters import ItemFilter, parse_item_filter
from webhook_resend.resends.selection import count_items, page_item_ids, select_item_ids

TENANT = "tenant-selection"
OTHER = "tenant-other"
MODELS = ("Post", "Page", "Author")
STAGES = ("Draft", "Done", None)
TAG_SETS = ((), ("news",), ("news", "sport"), ("sport",), ("tech", "news"))
LOCALES = ((), ("en-GB",), ("nl-NL", "en-GB"))


def _item(n: int) -> ContentItem:
    return ContentItem(
        id=f"00000000-0000-4000-8000-{n:012d}",
        model=MODELS[n % 3],
        tags=list(TAG_SETS[n % 5]),
        workflow_stage=STAGES[n % 3 if n % 7 else 2],
        locales=list(LOCALES[n % 3]),
        created_on=f"2024-01-{1 + n % 20:02d}T00:00:{n % 60:02d}.000Z",
        changed_on=f"2024-02-{1 + n % 27:02d}T12:00:00.000Z",
        publish_on=None if n % 4 == 0 else f"2024-03-{1 + n % 28:02d}T08:00:00.000Z",
        payload={"n": n},
    )


ITEMS = [_item(n) for n in range(60)]

FILTERS: dict[str, dict[str, Any]] = {
    "everything": {},
    "model-eq": {"model": {"eq": "Post"}},
    "model-in": {"model": {"in": ["Post", "Author"]}},
    "stage-eq": {"workflow_stage": {"eq": "Done"}},
    "tags-eq": {"tags": {"eq": "news"}},
    "tags-in": {"tags": [{"in": ["sport", "tech"]}]},
    "tags-and": {"tags": [{"eq": "news"}, {"eq": "sport"}]},
    "locales-eq": {"locales": {"eq": "nl-NL"}},
    "id-eq": {"id": {"eq": ITEMS[7].id}},
    "id-in": {"id": {"in": [ITEMS[n].id for n in (1, 2, 3, 50)]}},
    "created-range": {"created_on": {"gte": "2024-01-05T00:00:00Z", "lt": "2024-01-12T00:00:00Z"}},
    "changed-gt": {"changed_on": {"gt": "2024-02-15T12:00:00Z"}},
    "publish-lte": {"publish_on": {"lte": "2024-03-10T08:00:00Z"}},
    "mixed": {
        "model": {"eq": "Post"},
        "tags": {"in": ["news", "tech"]},
        "created_on": {"gt": "2024-01-02T00:00:00Z"},
        "publish_on": {"gte": "2024-03-01T00:00:00Z"},
    },
    "nothing": {"model": {"eq": "Nope"}},
}


@pytest.fixture
def store(stack: LocalAws) -> Store:
    found = clients.store()
    for item in ITEMS:
        found.put_item(TENANT, item)
    found.put_item(OTHER, ITEMS[0].model_copy(update={"id": "00000000-0000-4000-8000-999999999999"}))
    return found


def _expected(item_filter: ItemFilter) -> list[str]:
    index_order = sorted(ITEMS, key=lambda i: (i.created_on, i.id))
    return [i.id for i in index_order if item_filter.matches(i.model_dump())]


class QueryMeter:
    """Counts the index entries each Query of the store's client answers."""

    def __init__(self, store: Store) -> None:
        self.client = store._client
        self._real = self.client.query
        self.items = 0
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        answer = self._real(**kwargs)
        self.calls.append(kwargs)
        self.items += len(answer.get("Items", []))
        return answer

    def install(self) -> QueryMeter:
        self.client.query = self
        return self

    def uninstall(self) -> None:
        self.client.query = self._real


@pytest.fixture
def meter(store: Store) -> Iterator[QueryMeter]:
    installed = QueryMeter(store).install()
    yield installed
    installed.uninstall()


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_selection_dynamodb_selects_exactly_what_the_filter_matches(store: Store, name: str) -> None:
    item_filter = parse_item_filter(FILTERS[name])

    assert select_item_ids(store, TENANT, item_filter) == _expected(item_filter)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_selection_count_is_dynamodbs_and_transfers_no_entry(
    store: Store, meter: QueryMeter, name: str
) -> None:
    item_filter = parse_item_filter(FILTERS[name])

    assert count_items(store, TENANT, item_filter) == len(_expected(item_filter))
    assert meter.items == 0
    assert all(call["Select"] == "COUNT" for call in meter.calls)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_selection_transfers_the_matching_entries_only(store: Store, meter: QueryMeter, name: str) -> None:
    item_filter = parse_item_filter(FILTERS[name])

    select_item_ids(store, TENANT, item_filter)

    assert meter.items == len(_expected(item_filter))


@pytest.mark.parametrize(("skip", "limit"), [(0, 5), (3, 4), (10, 25), (17, 1), (100, 5)])
def test_selection_page_is_the_slice_of_the_matches(store: Store, skip: int, limit: int) -> None:
    item_filter = parse_item_filter(FILTERS["tags-eq"])

    assert (
        page_item_ids(store, TENANT, item_filter, skip, limit) == _expected(item_filter)[skip : skip + limit]
    )


def test_selection_page_of_a_dense_filter_reads_as_far_as_its_last_match(
    store: Store, meter: QueryMeter
) -> None:
    # Given a filter every entry matches: the page asks DynamoDB for what it still wants (SPEC
    # §10: a Prepr page costs skip + limit, not a MB of the index per Query)
    item_filter = parse_item_filter({})

    page = page_item_ids(store, TENANT, item_filter, 3, 9)

    assert page == _expected(item_filter)[3:12]
    assert meter.items == 12  # of the index's 60 entries
    assert [call.get("Limit") for call in meter.calls] == [12]


def test_selection_page_of_a_selective_filter_reads_further_each_query(
    store: Store, meter: QueryMeter
) -> None:
    item_filter = parse_item_filter(FILTERS["tags-eq"])
    expected = _expected(item_filter)

    page = page_item_ids(store, TENANT, item_filter, 0, len(expected))

    assert page == expected
    limits = [call.get("Limit") for call in meter.calls]
    assert len(limits) > 1  # the first Query, reading as many entries as there are matches, fell short
    assert limits[0] == len(expected)
    assert all(later == min(earlier * 4, 10_000) for earlier, later in itertools.pairwise(limits))


def test_selection_count_past_its_deadline_stops_between_queries(store: Store, meter: QueryMeter) -> None:
    # Given DynamoDB counting 10 entries a Query, and a deadline already passed
    real = meter._real
    meter._real = lambda **kwargs: real(**{**kwargs, "Limit": 10})

    with pytest.raises(DeadlinePassed) as passed:
        count_items(store, TENANT, parse_item_filter({}), deadline=time.monotonic() - 1)

    # Then it stopped after its first Query, saying what it had counted
    assert passed.value.read == 10
    assert len(meter.calls) == 1
    assert count_items(store, TENANT, parse_item_filter({})) == len(_expected(parse_item_filter({})))


def test_selection_page_reads_no_further_than_its_last_match(store: Store, meter: QueryMeter) -> None:
    # Given DynamoDB answering a page of 10 entries at a time (as it would for a large index)
    real = meter._real

    def small_pages(**kwargs: Any) -> Any:
        return real(**{**kwargs, "Limit": 10})

    meter._real = small_pages
    item_filter = parse_item_filter({})

    page = page_item_ids(store, TENANT, item_filter, 0, 12)

    assert page == _expected(item_filter)[:12]
    assert meter.items == 20  # two pages of 10, not the 60 entries of the index
    # and it asked for ids only
    assert all(call.get("ProjectionExpression") == "#a0" for call in meter.calls)


def test_selection_of_an_in_too_long_for_one_expression_is_still_exact(store: Store) -> None:
    # 900 tag values do not fit DynamoDB's 4 KB expression: evaluated on the answered entries
    tags = [f"t{n:04d}" for n in range(899)] + ["sport"]
    item_filter = parse_item_filter({"tags": {"in": tags}, "model": {"eq": "Post"}})

    assert not item_filter.compiled().residual.is_empty
    assert select_item_ids(store, TENANT, item_filter) == _expected(item_filter)
    assert count_items(store, TENANT, item_filter) == len(_expected(item_filter))


def test_selection_never_reads_another_tenants_items(store: Store) -> None:
    assert "00000000-0000-4000-8000-999999999999" not in select_item_ids(store, TENANT, ItemFilter())
    assert count_items(store, OTHER, ItemFilter()) == 1
