"""Selection: the webhooks a resend goes to, and the content items a filter selects, in the
stable order (`created_on`, then `id`) every page and resend shares.
"""

from __future__ import annotations

from itertools import islice

from webhook_resend.aws.dynamodb import Store
from webhook_resend.errors import FieldProblem, InvalidInputError
from webhook_resend.models.records import Webhook
from webhook_resend.resends.filters import ItemFilter


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


def select_item_ids(store: Store, tenant_id: str, item_filter: ItemFilter) -> list[str]:
    """Ids of every item matching the filter, in (created_on, id) order, read from the index."""
    lo, hi = item_filter.sort_key_range()
    return [entry["id"] for entry in store.query_item_index(tenant_id, lo, hi) if item_filter.matches(entry)]


def page_of(ids: list[str], skip: int, limit: int) -> list[str]:
    return list(islice(ids, skip, skip + limit))
