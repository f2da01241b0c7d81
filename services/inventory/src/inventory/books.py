"""Operator changes of stock, as plain values: set a SKU's sellable units and price, or adjust them.

Every change of stock is an entry in the adjustments log, written in the same transaction as the
catalogue item, so a SKU's ``stocked`` is always the sum of its entries' deltas. An item written
before the log existed gets one OPENING entry for the units it holds when it is first changed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum

from inventory.stock import StockLevel

OPENING_ADJUSTMENT_ID = "opening"
OPENING_REASON = "units on the books before the adjustments log existed"


class AdjustmentKind(StrEnum):
    SET = "SET"
    """PUT /inventory/{sku}: available set to a number; the entry records the difference."""

    ADJUST = "ADJUST"
    """POST /inventory/{sku}/adjustments: a delta with the operator's reason."""

    OPENING = "OPENING"
    """The units an older item held when it was first changed, booked once."""


@dataclass(frozen=True)
class Adjustment:
    sku: str
    adjustment_id: str
    kind: AdjustmentKind
    delta: int
    reason: str
    at: str
    result: StockLevel
    """The SKU's books right after the change: what a replay of the same request answers."""


@dataclass(frozen=True)
class StockChange:
    before: StockLevel | None
    """The books the change was computed from (None: the SKU is new); the write is conditioned on them."""
    after: StockLevel
    entries: tuple[Adjustment, ...]


class UnknownSkuError(LookupError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"SKU {sku} is not in the catalogue")
        self.sku = sku


class NegativeStockError(ValueError):
    """The change would leave fewer than zero units available."""

    def __init__(self, current: StockLevel, delta: int) -> None:
        super().__init__(
            f"SKU {current.sku}: adjusting by {delta} would leave {current.available + delta} units"
            f" available (available now: {current.available})"
        )
        self.current = current


class IdempotencyKeyReusedError(ValueError):
    """An Idempotency-Key already applied an adjustment with a different delta or reason."""


def plan_set(
    current: StockLevel | None,
    sku: str,
    available: int,
    unit_price: int,
    currency: str,
    *,
    at: str,
    adjustment_id: str,
) -> StockChange:
    """Sets sellable units and price; reserved and sold units stay. The difference is an entry."""
    if available < 0:
        raise ValueError(f"available must not be negative, got {available}")
    base = current or _empty(sku, unit_price, currency)
    delta = available - base.available
    after = replace(
        base,
        available=available,
        unit_price=unit_price,
        currency=currency,
        stocked=base.on_books + delta,
        version=base.version + 1,
    )
    entries = list(_opening(current, at))
    if delta:
        reason = f"available set to {available}"
        entries.append(Adjustment(sku, adjustment_id, AdjustmentKind.SET, delta, reason, at, after))
    return StockChange(before=current, after=after, entries=tuple(entries))


def plan_adjustment(
    current: StockLevel, delta: int, reason: str, *, at: str, adjustment_id: str
) -> StockChange:
    """Adds ``delta`` units to available (and to stocked); raises NegativeStockError below zero."""
    if delta == 0:
        raise ValueError("an adjustment changes stock: delta must not be 0")
    if current.available + delta < 0:
        raise NegativeStockError(current, delta)
    after = replace(
        current,
        available=current.available + delta,
        stocked=current.on_books + delta,
        version=current.version + 1,
    )
    entry = Adjustment(current.sku, adjustment_id, AdjustmentKind.ADJUST, delta, reason, at, after)
    return StockChange(before=current, after=after, entries=(*_opening(current, at), entry))


def adjustment_id_for(idempotency_key: str | None) -> str:
    """The entry's id: derived from the client's key, so a retried request finds its first entry."""
    if idempotency_key is None:
        return f"id-{uuid.uuid4().hex}"
    # Hashed: the key is the client's free text; the id stays short and safe as a sort key.
    return "key-" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def replay(stored: Adjustment, delta: int, reason: str) -> StockLevel:
    """The answer to a retried adjustment: the books right after it was applied the first time."""
    if (stored.delta, stored.reason) != (delta, reason):
        raise IdempotencyKeyReusedError(
            "Idempotency-Key was already used for a different adjustment"
            f" (delta {stored.delta}, reason {stored.reason!r})"
        )
    return stored.result


def _empty(sku: str, unit_price: int, currency: str) -> StockLevel:
    return StockLevel(
        sku=sku, available=0, reserved=0, unit_price=unit_price, currency=currency, sold=0, stocked=0
    )


def _opening(current: StockLevel | None, at: str) -> list[Adjustment]:
    if current is None or current.stocked is not None or current.on_books == 0:
        return []
    units = current.on_books
    booked = replace(current, stocked=units)
    kind = AdjustmentKind.OPENING
    return [Adjustment(current.sku, OPENING_ADJUSTMENT_ID, kind, units, OPENING_REASON, at, booked)]
