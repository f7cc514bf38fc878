"""Domain errors. Each maps to one HTTP status in `webhook_resend.api.resolver`; none is chosen by text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one input field: what `{"errors": [{"field", "message"}]}` lists."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class WebhookResendError(Exception):
    """Base of every error the API answers with a 4xx."""

    def __init__(self, problems: list[FieldProblem] | FieldProblem) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


class InvalidInputError(WebhookResendError):
    """The request names an unknown field or operator, or a value out of range (422)."""


class NotFoundError(WebhookResendError):
    """No record with that id for this tenant (404); another tenant's id answers the same."""


class UnauthorizedError(WebhookResendError):
    """Missing or wrong credentials (401)."""


class PayloadTooLargeError(WebhookResendError):
    """The request body is over the limit (413)."""


def not_found(kind: str) -> NotFoundError:
    return NotFoundError(FieldProblem("id", f"no {kind} with this id"))


class MethodNotAllowedError(WebhookResendError):
    """The path exists but not with this method (405)."""

    def __init__(self, problem: FieldProblem, allowed: list[str]) -> None:
        super().__init__(problem)
        self.allowed = allowed


class ConflictError(WebhookResendError):
    """The request conflicts with the current state (409)."""


class QueueingError(Exception):
    """Some pairs could not be queued (SQS refused or was unreachable): a 503.

    The job already counts only what was queued; the answer says how much that was. Of the
    `refused` pairs, `ended` may have reached the queue (the call got no answer): those stay in
    the job's count, ended `failed` so that they are never sent.
    """

    def __init__(self, job_id: str, queued: int, refused: int, ended: int = 0) -> None:
        self.job_id = job_id
        self.queued = queued
        self.refused = refused
        self.ended = ended
        super().__init__(f"queued {queued} pairs, could not queue {refused}")


class SelectionNotStartedError(QueueingError):
    """A job that selects asynchronously was written, but SQS did not take the first step of its
    selection: its selection ended there (`rejected`, or with tasks queued, `running`), and the
    caller is told to try again (a 503)."""


def collect(*parsers: Callable[[], Any]) -> list[Any]:
    """Run every parser and raise one InvalidInputError with all their problems."""
    results: list[Any] = []
    problems: list[FieldProblem] = []
    for parse in parsers:
        try:
            results.append(parse())
        except InvalidInputError as error:
            problems.extend(error.problems)
            results.append(None)
    if problems:
        raise InvalidInputError(problems)
    return results
