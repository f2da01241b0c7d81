"""What a test's code asks of DynamoDB, recorded from boto3's own events: each request is billed,
its condition met or not, so a test of how many writes something makes counts requests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

WRITES = ("PutItem", "UpdateItem", "DeleteItem")


@contextmanager
def _recorded(clients: Iterable[Any], record: Callable[..., None]) -> Iterator[None]:
    # The same client given twice (two tables of one resource) is recorded once.
    emitters = list({id(client): client.meta.events for client in clients}.values())
    for events in emitters:
        events.register("before-parameter-build.dynamodb", record)
    try:
        yield
    finally:
        for events in emitters:
            events.unregister("before-parameter-build.dynamodb", record)


@contextmanager
def dynamodb_requests(*clients: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every request made meanwhile through ``clients`` (boto3 DynamoDB clients): (operation, its
    parameters as passed)."""
    made: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        made.append((model.name, params))

    with _recorded(clients, record):
        yield made


@contextmanager
def writes_to(table: Any) -> Iterator[list[str]]:
    """The single-item write requests made meanwhile to ``table`` (a boto3 Table resource), by name."""
    made: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name in WRITES and params.get("TableName") == table.name:
            made.append(model.name)

    with _recorded([table.meta.client], record):
        yield made
