"""Stand-ins for the provider, the bus and the clock, for tests of the payment domain in moto.

The ledger is never faked: its conditional writes are what the races are decided by, so the domain
tests run against the DynamoDB ledger in moto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from orderflow_shared.contracts import Event
from payments.errors import ChargeAlreadyRefunded
from payments.model import Charge, ChargeRequest, ProviderCharge, Refund

E = TypeVar("E", bound=Event)


@dataclass
class FakeClock:
    """One time for the ledger's stamps (ISO strings) and the reconciler's decisions (datetimes)."""

    moment: datetime = field(default_factory=lambda: datetime(2026, 5, 14, 9, 30, tzinfo=UTC))

    def now(self) -> datetime:
        return self.moment

    def iso(self) -> str:
        return self.moment.isoformat()

    def advance(self, by: timedelta) -> None:
        self.moment += by


@dataclass
class ScriptedProvider:
    """Answers each charge with the next outcome (a charge id, or an exception to raise); keeps the
    charges it made for the search and refunds them like the provider does, one refund per key."""

    outcomes: list[str | Exception] = field(default_factory=list)
    # Runs inside charge() before its outcome: what another delivery does meanwhile.
    during_charge: Callable[[], None] | None = None
    charges: dict[str, ProviderCharge] = field(default_factory=dict)
    hidden_from_search: set[str] = field(default_factory=set)  # made, but the search lags behind
    search_errors: list[Exception] = field(default_factory=list)
    refund_errors: list[Exception] = field(default_factory=list)
    requests: list[ChargeRequest] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    refund_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (charge id, key, reason)
    _refunds_by_key: dict[str, Refund] = field(default_factory=dict)

    def charge(self, request: ChargeRequest) -> Charge:
        self.requests.append(request)
        if self.during_charge is not None:
            self.during_charge()
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        self.charges.setdefault(
            outcome, ProviderCharge(outcome, request.amount, request.currency, "succeeded")
        )
        return Charge(charge_id=outcome)

    def made_charge(self, charge_id: str, amount: int = 2599, currency: str = "EUR") -> None:
        """A charge the provider made whose answer the caller never saw."""
        self.charges[charge_id] = ProviderCharge(charge_id, amount, currency, "succeeded")

    def find_charges(self, order_id: str) -> list[ProviderCharge]:
        self.searches.append(order_id)
        if self.search_errors:
            raise self.search_errors.pop(0)
        return [c for c in self.charges.values() if c.charge_id not in self.hidden_from_search]

    def refund(self, charge_id: str, idempotency_key: str, reason: str) -> Refund:
        self.refund_calls.append((charge_id, idempotency_key, reason))
        if self.refund_errors:
            raise self.refund_errors.pop(0)
        if idempotency_key in self._refunds_by_key:
            return self._refunds_by_key[idempotency_key]
        charge = self.charges[charge_id]
        left = charge.amount - charge.amount_refunded
        if left == 0:
            raise ChargeAlreadyRefunded(charge_id)
        refund = Refund(f"re_{len(self._refunds_by_key) + 1}", charge_id, left, charge.currency)
        self._refunds_by_key[idempotency_key] = refund
        self.charges[charge_id] = replace(charge, amount_refunded=charge.amount)
        return refund

    @property
    def refunded(self) -> list[str]:
        """Charge ids the provider gave a refund for (replays not counted)."""
        return [refund.charge_id for refund in self._refunds_by_key.values()]


@dataclass
class Bus:
    published: list[Event] = field(default_factory=list)
    failures_left: int = 0

    def publish(self, event: Event) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("EventBridge rejected the entry")
        self.published.append(event)

    def of_type(self, model: type[E]) -> list[E]:
        return [event for event in self.published if isinstance(event, model)]
