"""Selection: the webhooks a resend goes to, and the content items a filter selects, in the
stable order (`created_on`, then `id`) every page and resend shares.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from webhook_resend.aws.dynamodb import DeadlinePassed, Store
from webhook_resend.errors import FieldProblem, InvalidInputError
from webhook_resend.models.records import Webhook
from webhook_resend.resends.filters import Compiled, ItemFilter


def select_webhooks(
    store: Store, tenant_id: str, event: str, selected: frozenset[str] | None, *, field: str = "webhook_id"
) -> list[Webhook]:
    """The webhooks a resend goes to.

    Named webhooks must all exist and be active (a name that matches nothing is an error, never
    a silent skip); they get the event whatever they subscribe to, as the caller asked for them.
    Absent a selection: every active webhook subscribed to the event. The webhooks' own model
    filters are not applied to bulk resends.
    """
    webhooks = [w for w, _ in store.list_webhooks(tenant_id)]
    if selected is None:
        chosen = [w for w in webhooks if w.active and event in w.events]
    else:
        by_id = {w.id: w for w in webhooks}
        unknown = sorted(i for i in selected if i not in by_id)
        inactive = sorted(i for i in selected if i in by_id and not by_id[i].active)
        problems = []
        if unknown:
            problems.append(FieldProblem(field, f"no webhook with id {', '.join(unknown)}"))
        if inactive:
            problems.append(FieldProblem(field, f"webhook {', '.join(inactive)} is inactive"))
        if problems:
            raise InvalidInputError(problems)
        chosen = [by_id[i] for i in selected]
    return sorted(chosen, key=lambda w: (w.created_on, w.id))


T = TypeVar("T")

# Entries read between two looks at a deadline (a look is a clock read; a page is ~5,000 entries).
DEADLINE_EVERY = 1000

# What a selection reads of an index entry when it needs the ids only, plus what a residual
# filter (see `ItemFilter.compiled`) may look at.
_ID_ONLY = ("id",)


def _reads(compiled: Compiled) -> tuple[str, ...] | None:
    return _ID_ONLY if compiled.residual.is_empty else None


def select_item_ids(store: Store, tenant_id: str, item_filter: ItemFilter) -> list[str]:
    """Ids of every item matching the filter, in (created_on, id) order: DynamoDB evaluates the
    filter, so only matching entries (their ids) are transferred."""
    lo, hi = item_filter.sort_key_range()
    compiled = item_filter.compiled()
    entries = store.iter_item_index(tenant_id, lo, hi, compiled.condition, attributes=_reads(compiled))
    return [entry["id"] for entry in entries if compiled.keeps(entry)]


def count_items(
    store: Store, tenant_id: str, item_filter: ItemFilter, *, deadline: float | None = None
) -> int:
    """How many items match the filter: DynamoDB counts (Select=COUNT) and answers a number,
    unless part of the filter is evaluated here (a residual), which needs the entries. With
    `deadline` (time.monotonic()), DeadlinePassed once it has passed."""
    lo, hi = item_filter.sort_key_range()
    compiled = item_filter.compiled()
    if compiled.residual.is_empty:
        return store.count_item_index(tenant_id, lo, hi, compiled.condition, deadline=deadline)
    entries = store.iter_item_index(tenant_id, lo, hi, compiled.condition)
    return sum(1 for entry in until_deadline(entries, deadline) if compiled.keeps(entry))


def until_deadline(items: Iterable[T], deadline: float | None) -> Iterator[T]:
    """`items`, raising DeadlinePassed (with how many were read) once `deadline` (time.monotonic())
    has passed, looked at every DEADLINE_EVERY items."""
    for read, item in enumerate(items, 1):
        yield item
        if deadline is not None and read % DEADLINE_EVERY == 0 and time.monotonic() > deadline:
            raise DeadlinePassed(read)


# How much further each Query of a page reads than the one before, when the one before came back
# with fewer matches than were still wanted (the filter is selective), and the most it asks for
# (DynamoDB stops at 1 MB of entries anyway).
PAGE_READ_GROWTH = 4
PAGE_READ_MAX = 10_000


def page_item_ids(store: Store, tenant_id: str, item_filter: ItemFilter, skip: int, limit: int) -> list[str]:
    """The ids of matches `skip` to `skip + limit`, in order: reads matching entries (ids only)
    up to the last one wanted, never the matches after it. Each Query reads (`Limit`, which
    DynamoDB applies before the filter) what is still wanted, or, after a Query that came back
    short, PAGE_READ_GROWTH times what the last one read: a dense filter reads about as far as its
    last match, where a Query without a Limit read 1 MB of entries (about 5,000) for a page of 25;
    a selective one takes few more Queries than it did."""
    lo, hi = item_filter.sort_key_range()
    compiled = item_filter.compiled()
    wanted = skip + limit
    found: list[str] = []
    start = None
    read = 0
    while len(found) < wanted:
        read = min(max(wanted - len(found), read * PAGE_READ_GROWTH), PAGE_READ_MAX)
        entries, start = store.query_item_index(
            tenant_id, lo, hi, compiled.condition, start=start, limit=read, attributes=_reads(compiled)
        )
        found += [entry["id"] for entry in entries if compiled.keeps(entry)]
        if start is None:
            break
    return found[skip:wanted]
