"""What every model of the service shares: the base models, the events, ids and secrets.

Times are kept as canonical strings (see clock).
"""

# Not `from __future__ import annotations` here: pydantic would compile and evaluate every field's
# annotation string while creating each class, about a third of what creating the models costs
# at every cold start (every function imports them).
import base64
import secrets
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict

from webhook_resend.errors import FieldProblem, InvalidInputError, not_found

EVENTS = (
    "content_item.created",
    "content_item.changed",
    "content_item.published",
    "content_item.unpublished",
    "content_item.deleted",
)
Event = Literal[
    "content_item.created",
    "content_item.changed",
    "content_item.published",
    "content_item.unpublished",
    "content_item.deleted",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret

Source = Literal["dataforseo", "prepr", "api", "schedule"]
SubjectKind = Literal["item", "task"]


def new_id() -> str:
    return str(uuid.uuid4())


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def canonical_id(raw: str, kind: str, *, for_write: bool) -> str:
    """The canonical UUID of a path id. A malformed id cannot exist: 404 on reads, 422 on writes."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        if for_write:
            raise InvalidInputError(FieldProblem("id", f"'{raw}' is not a UUID")) from None
        raise not_found(kind) from None


class Model(BaseModel):
    """Every model of the service: schemas are built on first use, not at import (cold starts)."""

    model_config = ConfigDict(defer_build=True)


class StrictModel(Model):
    """Unknown fields are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
