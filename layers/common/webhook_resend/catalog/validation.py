"""Checks every catalog write shares: a body's id against the path's, URLs against the URL policy."""

from __future__ import annotations

from collections.abc import Callable

from webhook_resend.errors import FieldProblem, InvalidInputError
from webhook_resend.urlpolicy import UrlRefusedError, check_url


def check_body_id(body_id: str | None, path_id: str) -> None:
    if body_id is not None and body_id != path_id:
        raise InvalidInputError(FieldProblem("id", "must equal the id in the path"))


def check_urls(named: list[tuple[str, str]], allow_private: bool, resolver: Callable) -> None:
    """InvalidInputError naming every (field, url) the URL policy refuses."""
    problems = []
    for field, url in named:
        try:
            check_url(url, allow_private=allow_private, resolver=resolver)
        except UrlRefusedError as exc:
            problems.append(FieldProblem(field, str(exc)))
    if problems:
        raise InvalidInputError(problems)
