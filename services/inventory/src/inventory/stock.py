"""Stock levels and the rules for reserving them: plain Python, no AWS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from orderflow_shared.contracts.values import OrderItem, PricedLine, PricedOrder
from orderflow_shared.task_token import TaskFailure

# One DynamoDB transaction holds at most 100 items: one catalogue update per SKU plus the
# reservation record.
MAX_SKUS_PER_ORDER = 99


class OutOfStock(TaskFailure):
    """The order cannot be reserved; the workflow catches this name and compensates."""

    error = "OutOfStock"


class Count(StrEnum):
    """The counts a SKU's units are booked in; every unit ever stocked is in exactly one of them."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    SOLD = "sold"


@dataclass(frozen=True)
class StockLevel:
    """A SKU's books as of ``version`` (which every change of the catalogue item increments)."""

    sku: str
    available: int
    reserved: int
    unit_price: int
    currency: str
    sold: int = 0
    stocked: int | None = None
    """Units ever put on the books; None for an item written before the adjustments log existed."""
    version: int = 0

    @property
    def on_books(self) -> int:
        """Units ever stocked: the stored count, or for an older item what its counts hold now."""
        if self.stocked is None:
            return self.available + self.reserved + self.sold
        return self.stocked

    def balances(self) -> bool:
        """The conservation invariant: every stocked unit is available, reserved or sold, none negative."""
        counts = (self.available, self.reserved, self.sold)
        return min(counts) >= 0 and sum(counts) == self.on_books


def demanded_quantities(items: Iterable[OrderItem]) -> dict[str, int]:
    """Total units per SKU, in the order the SKUs first appear.

    An order may list one SKU on several lines, but a transaction may touch each catalogue item
    only once, so stock is always moved per SKU.
    """
    demand: dict[str, int] = {}
    for item in items:
        demand[item.sku] = demand.get(item.sku, 0) + item.quantity
    return demand


def check_reservable(demand: Mapping[str, int], levels: Mapping[str, StockLevel]) -> None:
    """Raises OutOfStock naming every SKU that is unknown or short, and rejects unpriceable orders."""
    if len(demand) > MAX_SKUS_PER_ORDER:
        # Not a stock shortage, but the workflow only catches OutOfStock on this step, and the order
        # must end with a compensation and a customer notice rather than a stuck execution.
        raise OutOfStock(
            f"an order can reserve at most {MAX_SKUS_PER_ORDER} different SKUs; this one has {len(demand)}"
        )
    shortages = [
        _describe_shortage(sku, quantity, levels.get(sku))
        for sku, quantity in demand.items()
        if sku not in levels or levels[sku].available < quantity
    ]
    if shortages:
        raise OutOfStock("not enough stock: " + "; ".join(shortages))
    currencies = {levels[sku].currency for sku in demand}
    if len(currencies) > 1:
        # Not a stock shortage either; reported as OutOfStock for the same reason as above: it is
        # the only error this workflow step catches, and the order cannot proceed.
        priced_in = ", ".join(f"{sku} in {levels[sku].currency}" for sku in demand)
        raise OutOfStock(f"the order mixes currencies ({priced_in}); an order is paid in one currency")


def _describe_shortage(sku: str, requested: int, level: StockLevel | None) -> str:
    if level is None:
        return f"{sku}: requested {requested}, not in the catalogue"
    return f"{sku}: requested {requested}, available {level.available}"


def price_order(items: Iterable[OrderItem], levels: Mapping[str, StockLevel]) -> PricedOrder:
    """Prices each order line from the catalogue (the only source of prices).

    Call after check_reservable, which guarantees every SKU is known and one currency applies.
    """
    lines = [
        PricedLine(
            sku=item.sku,
            quantity=item.quantity,
            unit_price=levels[item.sku].unit_price,
            line_total=levels[item.sku].unit_price * item.quantity,
        )
        for item in items
    ]
    currency = levels[lines[0].sku].currency
    return PricedOrder(lines=lines, total_amount=sum(line.line_total for line in lines), currency=currency)


def ordered_items(order: PricedOrder) -> list[OrderItem]:
    return [OrderItem(sku=line.sku, quantity=line.quantity) for line in order.lines]
