"""`/content_items` and `/content_items/{id}`."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from webhook_resend.api import querystring
from webhook_resend.api.params import parse_paging
from webhook_resend.api.resolver import json_response, query_or_body, require_tenant, validation_problems
from webhook_resend.aws import clients
from webhook_resend.catalog import content_items
from webhook_resend.errors import FieldProblem, collect
from webhook_resend.models.bodies import (
    ContentItemBulkOutcome,
    ContentItemBulkResult,
    ContentItemIn,
    ContentItemList,
    ErrorDetail,
)
from webhook_resend.models.records import ContentItem
from webhook_resend.resends.filters import parse_item_filter

router = APIGatewayHttpRouter()


@router.get("/content_items", summary="List content items matching a filter")
def list_items() -> ContentItemList:
    tenant_id = require_tenant(router)
    params = query_or_body(router, querystring.decode)
    item_filter, (skip, limit) = collect(
        lambda: parse_item_filter(params, allowed_extra=("skip", "limit")), lambda: parse_paging(params)
    )
    return content_items.list_content_items(clients.store(), tenant_id, item_filter, skip, limit)


@router.put("/content_items/<id>", summary="Create or replace a content item")
def put_item(id: str, body: Annotated[ContentItemIn, Body()]) -> Response[ContentItem]:
    tenant_id = require_tenant(router)
    item, created = content_items.put_content_item(clients.store(), tenant_id, id, body)
    return json_response(201 if created else 200, item.model_dump())


@router.put(
    "/content_items",
    summary=f"Create or replace up to {content_items.MAX_BULK_ITEMS} content items, each with its id",
)
def put_items(
    body: Annotated[list[Any], Body(min_length=1, max_length=content_items.MAX_BULK_ITEMS)],
) -> ContentItemBulkResult:
    tenant_id = require_tenant(router)
    outcomes = content_items.put_content_items(clients.store(), tenant_id, [_bulk_body(e) for e in body])
    return bulk_result(outcomes)


def _bulk_body(element: Any) -> ContentItemIn | list[FieldProblem]:
    """An element of a bulk write validated exactly as the body of `PUT /content_items/{id}`."""
    if not isinstance(element, dict):
        return [FieldProblem("body", "must be a JSON object (a content item)")]
    try:
        return ContentItemIn.model_validate(element)
    except ValidationError as error:
        return validation_problems(list(error.errors()))


def bulk_result(outcomes: list[content_items.BulkOutcome]) -> ContentItemBulkResult:
    counts = Counter(o.status for o in outcomes)
    return ContentItemBulkResult(
        created=counts["created"],
        replaced=counts["replaced"],
        refused=counts["refused"],
        failed=counts["failed"],
        results=[
            ContentItemBulkOutcome(
                index=o.index,
                id=o.id,
                status=o.status,
                changed_on=o.item.changed_on if o.item else None,
                created_on=o.item.created_on if o.item else None,
                errors=[ErrorDetail(**p.as_dict()) for p in o.problems],
            )
            for o in outcomes
        ],
    )


@router.get("/content_items/<id>", summary="Get a content item")
def get_item(id: str) -> ContentItem:
    return content_items.get_content_item(clients.store(), require_tenant(router), id)


@router.delete("/content_items/<id>", summary="Delete a content item")
def delete_item(id: str) -> Response[None]:
    content_items.delete_content_item(clients.store(), require_tenant(router), id)
    return Response(status_code=204, body="")
