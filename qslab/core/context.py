"""Who is acting, in which request, and why: context that the change log reads.

Set by middleware for web requests and by ``acting_as`` for services called from tasks, the CLI and
tests, so a change recorded deep in the model layer still knows its user, request id and reason.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from typing import Any

current_user: contextvars.ContextVar[Any] = contextvars.ContextVar("qslab_current_user", default=None)
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("qslab_request_id", default="")
current_reason: contextvars.ContextVar[str] = contextvars.ContextVar("qslab_reason", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def acting_as(user: Any, reason: str = "", request_id: str | None = None) -> Iterator[None]:
    """Record changes made inside the block as made by ``user`` for ``reason``."""
    tokens = (
        current_user.set(user),
        current_reason.set(reason),
        current_request_id.set(request_id or current_request_id.get() or new_request_id()),
    )
    try:
        yield
    finally:
        current_request_id.reset(tokens[2])
        current_reason.reset(tokens[1])
        current_user.reset(tokens[0])


@contextlib.contextmanager
def change_reason(reason: str) -> Iterator[None]:
    token = current_reason.set(reason)
    try:
        yield
    finally:
        current_reason.reset(token)
