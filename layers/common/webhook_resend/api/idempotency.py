"""`Idempotency-Key` on every resend route, with Powertools' idempotency utility.

The same key from the same tenant on the same route within 24 hours answers the first answer
again and queues nothing; the same key with a different body is a 422; a request still running
under that key is a 409. Records live in their own table (Powertools' schema), keyed
`<tenant id>#<route>#<hash>`, so every key still starts with the tenant id. Errors are not
remembered: a request that failed may be sent again with the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from webhook_resend.aws import clients
from webhook_resend.errors import ConflictError, FieldProblem, InvalidInputError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
TTL_SECONDS = 24 * 60 * 60

Answer = tuple[int, Any]


class NotRemembered(Exception):
    """Raised by `run` with an answer to give now but not to remember (a request-level error
    that answers 200, as DataForSEO's envelope does): a retry with the same key runs again."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.answer = (status, body)


_lambda_context: Any = None


def register_lambda_context(context: Any) -> None:
    """This invocation's context: a keyed request's in-progress record expires with its time left."""
    global _lambda_context
    _lambda_context = context


# Powertools' idempotency utility is imported by the first request that carries a key, not at
# every cold start of the resend function: a request without a key never uses it.
@cache
def _config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        expires_after_seconds=TTL_SECONDS,
        raise_on_no_idempotency_key=True,
    )


def once(tenant_id: str, route: str, key: str | None, request: Any, run: Callable[[], Answer]) -> Answer:
    """`run()`'s (status, body), or the remembered one when this key was seen before."""
    if key is None:
        try:
            return run()
        except NotRemembered as given:
            return given.answer
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(FieldProblem("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters"))
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = _config()
    config.register_lambda_context(_lambda_context)

    def remembered(data: dict[str, Any]) -> dict[str, Any]:
        status, body = run()
        return {"status": status, "body": body}

    wrapped = idempotent_function(
        remembered,
        data_keyword_argument="data",
        persistence_store=clients.idempotency_store(),
        config=config,
        key_prefix=f"{tenant_id}#{route}",
    )
    try:
        answer = wrapped(data={"key": key, "request": request})
    except NotRemembered as given:
        return given.answer
    except IdempotencyValidationError:
        raise InvalidInputError(
            FieldProblem("Idempotency-Key", "was already used with a different request; use a new key")
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise ConflictError(
            FieldProblem("Idempotency-Key", "a request with this key is still running; try again shortly")
        ) from None
    return int(answer["status"]), answer["body"]
