"""The operator's use cases: read a SKU's books, set its stock and price, adjust its stock.

Each change is computed from a read and written conditioned on that read's version, so a
reservation (or another change) landing in between is never overwritten: the change is computed
again from the new books. With If-Match the operator's own read is the one that must still hold.
"""

from __future__ import annotations

import logging

from inventory.books import (
    UnknownSkuError,
    adjustment_id_for,
    plan_adjustment,
    plan_set,
    replay,
)
from inventory.books_store import StockBooks, VersionConflictError
from inventory.dynamo import now
from inventory.etag import IfMatch
from inventory.stock import StockLevel

logger = logging.getLogger(__name__)

# Every attempt re-reads the SKU; losing this many races in a row to reservations is contention
# the client is asked to retry.
MAX_CHANGE_ATTEMPTS = 5


class PreconditionFailedError(Exception):
    """If-Match does not match the SKU's current version (or the SKU does not exist)."""

    def __init__(self, current: StockLevel | None) -> None:
        super().__init__("the SKU changed since the version named in If-Match")
        self.current = current


class StockChangeContentionError(RuntimeError):
    """The SKU kept changing under the change; nothing was written."""


class StockKeeping:
    def __init__(self, books: StockBooks) -> None:
        self._books = books

    def level(self, sku: str) -> StockLevel | None:
        return self._books.level(sku)

    def set_stock(
        self, sku: str, available: int, unit_price: int, currency: str, precondition: IfMatch | None = None
    ) -> StockLevel:
        """Sets sellable units and price (creating the SKU if new); returns the books after it."""
        for _ in range(MAX_CHANGE_ATTEMPTS):
            current = self._books.level(sku)
            if precondition is not None and not precondition.allows(current.version if current else None):
                raise PreconditionFailedError(current)
            change = plan_set(
                current, sku, available, unit_price, currency, at=now(), adjustment_id=adjustment_id_for(None)
            )
            try:
                self._books.apply(change)
            except VersionConflictError:
                logger.info("SKU changed while setting its stock; computing again", extra={"sku": sku})
                continue
            return change.after
        raise StockChangeContentionError(f"SKU {sku} kept changing over {MAX_CHANGE_ATTEMPTS} attempts")

    def adjust(self, sku: str, delta: int, reason: str, idempotency_key: str | None = None) -> StockLevel:
        """Adds ``delta`` to available; once per idempotency key, answering a retry as the first time.

        Raises UnknownSkuError, NegativeStockError (nothing changed) or IdempotencyKeyReusedError.
        """
        adjustment_id = adjustment_id_for(idempotency_key)
        for _ in range(MAX_CHANGE_ATTEMPTS):
            if idempotency_key is not None:
                stored = self._books.adjustment(sku, adjustment_id)
                if stored is not None:
                    logger.info("adjustment already applied; answering as the first time", extra={"sku": sku})
                    return replay(stored, delta, reason)
            current = self._books.level(sku)
            if current is None:
                raise UnknownSkuError(sku)
            change = plan_adjustment(current, delta, reason, at=now(), adjustment_id=adjustment_id)
            try:
                self._books.apply(change)
            except VersionConflictError:
                # The next pass reads again: a concurrent duplicate that won is then replayed.
                logger.info("SKU changed while adjusting it; computing again", extra={"sku": sku})
                continue
            return change.after
        raise StockChangeContentionError(f"SKU {sku} kept changing over {MAX_CHANGE_ATTEMPTS} attempts")
