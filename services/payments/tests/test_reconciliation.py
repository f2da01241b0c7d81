"""Refunding what a failed order was charged: the fence, its refunds, and the reconciler that keeps
looking while a charge's outcome is unknown. DynamoDB ledger in moto, scripted provider."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from orderflow_shared.aws import dynamodb_table
from orderflow_shared.contracts import PaymentRefunded
from payments.errors import ChargeAlreadyRefunded, PaymentProviderUnavailable
from payments.ledger import DynamoDbPaymentLedger
from payments.model import PaymentRecord, PaymentStatus, Refund, RefundRecord
from payments.reconciliation import (
    RECHECK_AFTER,
    RECONCILE_WINDOW,
    PaymentReconciler,
    ReconcileTiming,
    instant,
)

from .conftest import PAYMENTS_TABLE
from .doubles import Bus, FakeClock, ScriptedProvider

pytestmark = pytest.mark.usefixtures("aws")

REASON = "Your payment could not be processed."


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(clock: FakeClock) -> DynamoDbPaymentLedger:
    return DynamoDbPaymentLedger(dynamodb_table(PAYMENTS_TABLE), clock=clock.iso)


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def reconciler(ledger: Any, provider: ScriptedProvider, bus: Bus, clock: FakeClock) -> PaymentReconciler:
    return PaymentReconciler(ledger, provider, bus.publish, now=clock.now)


def record(ledger: DynamoDbPaymentLedger, order_id: str = "o-1") -> PaymentRecord:
    found = ledger.get(order_id)
    assert found is not None
    return found


def charged(ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, order_id: str = "o-1") -> None:
    """An attempt that charged ch_1 and recorded it."""
    ledger.begin_attempt(order_id, 2599, "EUR")
    provider.made_charge("ch_1")
    ledger.record_succeeded(order_id, "ch_1")


def in_flight(ledger: DynamoDbPaymentLedger, order_id: str = "o-1") -> None:
    """An attempt that began and has not ended (still running, or its function died)."""
    ledger.begin_attempt(order_id, 2599, "EUR")


# --- the fence -----------------------------------------------------------------------------------


def test_a_fence_with_no_attempt_asks_the_provider_nothing_and_is_done(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider
) -> None:
    outcome = reconciler.fence("o-1", REASON)

    assert (outcome.certain, outcome.refunds_announced) == (True, 0)
    assert provider.searches == []
    assert record(ledger).reconcile_due is None


def test_a_fence_refunds_the_charge_with_its_own_key_and_announces_it(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, bus: Bus
) -> None:
    charged(ledger, provider)

    outcome = reconciler.fence("o-1", REASON)

    assert (outcome.certain, outcome.refunds_announced) == (True, 1)
    assert provider.refund_calls == [("ch_1", "order-o-1-refund-ch_1", REASON)]
    [event] = bus.of_type(PaymentRefunded)
    assert event.order_id == "o-1"
    assert (event.data.payment_id, event.data.refund_id, event.data.amount, event.data.currency) == (
        "ch_1",
        "re_1",
        2599,
        "EUR",
    )
    assert event.data.reason == REASON
    assert record(ledger).refunds == {"ch_1": RefundRecord("re_1", 2599, "EUR", announced=True)}
    assert record(ledger).reconcile_due is None


def test_a_repeated_fence_refunds_and_announces_nothing_again(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, bus: Bus
) -> None:
    charged(ledger, provider)
    reconciler.fence("o-1", REASON)

    again = reconciler.fence("o-1", "another compensation")

    assert again.refunds_announced == 0
    assert len(provider.refund_calls) == 1
    assert len(bus.published) == 1


def test_the_recorded_charge_is_refunded_even_when_the_search_does_not_show_it_yet(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider
) -> None:
    charged(ledger, provider)
    provider.hidden_from_search.add("ch_1")

    reconciler.fence("o-1", REASON)

    assert provider.refunded == ["ch_1"]


def test_a_charge_the_ledger_never_saw_is_found_by_the_search_and_refunded(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider
) -> None:
    in_flight(ledger)
    provider.made_charge("ch_1")  # the delivery charged, then died before recording it

    outcome = reconciler.fence("o-1", REASON)

    assert provider.refunded == ["ch_1"]
    assert outcome.certain  # one key, one charge: the one found is the one there is
    assert record(ledger).reconcile_due is None


@dataclass
class LedgerDyingAfterTheRefund:
    ledger: DynamoDbPaymentLedger

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ledger, name)

    def record_refund(self, order_id: str, refund: Refund) -> RefundRecord:
        raise SystemExit("the function was killed after the provider refunded")


def test_a_refund_whose_recording_was_lost_is_replayed_by_its_key_and_announced_once(
    ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, bus: Bus, clock: FakeClock
) -> None:
    charged(ledger, provider)
    dying = PaymentReconciler(LedgerDyingAfterTheRefund(ledger), provider, bus.publish, now=clock.now)
    with pytest.raises(SystemExit):
        dying.fence("o-1", REASON)

    PaymentReconciler(ledger, provider, bus.publish, now=clock.now).fence("o-1", REASON)

    assert provider.refunded == ["ch_1"]  # the second call replayed the first refund
    assert [call[1] for call in provider.refund_calls] == ["order-o-1-refund-ch_1"] * 2
    assert [e.data.refund_id for e in bus.of_type(PaymentRefunded)] == ["re_1"]


def test_a_refund_whose_announcement_failed_is_announced_by_the_redelivery_without_refunding_again(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, bus: Bus
) -> None:
    charged(ledger, provider)
    bus.failures_left = 1
    with pytest.raises(RuntimeError):
        reconciler.fence("o-1", REASON)
    assert record(ledger).refunds["ch_1"] == RefundRecord("re_1", 2599, "EUR", announced=False)

    reconciler.fence("o-1", REASON)

    assert len(provider.refund_calls) == 1
    assert len(bus.of_type(PaymentRefunded)) == 1
    assert record(ledger).refunds["ch_1"].announced


def test_a_charge_refunded_outside_orderflow_is_left_alone(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, bus: Bus
) -> None:
    charged(ledger, provider)
    provider.refund_errors.append(ChargeAlreadyRefunded("ch_1"))

    outcome = reconciler.fence("o-1", REASON)

    assert outcome.certain
    assert bus.published == []
    assert record(ledger).refunds == {}


def test_a_provider_outage_during_the_fence_leaves_the_payment_due_for_the_reconciler(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, clock: FakeClock
) -> None:
    charged(ledger, provider)
    provider.search_errors.append(PaymentProviderUnavailable("HTTP 503"))

    with pytest.raises(PaymentProviderUnavailable):
        reconciler.fence("o-1", REASON)

    assert record(ledger).status is PaymentStatus.CANCELLED
    assert record(ledger).reconcile_due == instant(clock.now() + RECHECK_AFTER)
    clock.advance(RECHECK_AFTER)
    run = reconciler.reconcile_due(limit=10)
    assert run.reconciled == ["o-1"]
    assert provider.refunded == ["ch_1"]


def test_only_a_cancelled_payment_is_reconciled(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger
) -> None:
    in_flight(ledger)

    with pytest.raises(ValueError, match="not CANCELLED"):
        reconciler.reconcile(record(ledger))


# --- outcomes not known yet ----------------------------------------------------------------------


def test_a_fence_while_an_attempt_is_open_keeps_the_payment_due(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, clock: FakeClock
) -> None:
    in_flight(ledger)

    outcome = reconciler.fence("o-1", REASON)

    assert not outcome.certain
    assert record(ledger).reconcile_due == instant(clock.now() + RECHECK_AFTER)


def test_the_recheck_and_the_window_come_from_the_deployment(
    ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, bus: Bus, clock: FakeClock
) -> None:
    timing = ReconcileTiming.from_env({"RECONCILE_RECHECK_SECONDS": "6", "RECONCILE_WINDOW_SECONDS": "72"})
    reconciler = PaymentReconciler(ledger, provider, bus.publish, now=clock.now, timing=timing)
    in_flight(ledger)

    reconciler.fence("o-1", REASON)
    assert record(ledger).reconcile_due == instant(clock.now() + timedelta(seconds=6))

    clock.advance(timedelta(seconds=73))  # past the window: a charge not found by now was not made
    assert reconciler.reconcile_due(limit=10).reconciled == ["o-1"]
    assert record(ledger).reconcile_due is None


def test_a_lost_answer_keeps_the_payment_due_even_after_the_attempt_ended(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger
) -> None:
    in_flight(ledger)
    ledger.record_unavailable("o-1", "HTTP 500, nothing found", outcome_unknown=True)

    assert not reconciler.fence("o-1", REASON).certain


@pytest.mark.parametrize(
    "end",
    [
        lambda ledger: ledger.record_unavailable("o-1", "HTTP 503"),
        lambda ledger: ledger.record_declined("o-1", "declined"),
    ],
    ids=["not-executed", "declined"],
)
def test_an_attempt_that_certainly_charged_nothing_needs_no_second_look(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, end: Any
) -> None:
    in_flight(ledger)
    end(ledger)

    outcome = reconciler.fence("o-1", REASON)

    assert outcome.certain
    assert record(ledger).reconcile_due is None


def test_the_reconciler_refunds_a_charge_that_landed_after_the_fence(
    reconciler: PaymentReconciler,
    ledger: DynamoDbPaymentLedger,
    provider: ScriptedProvider,
    bus: Bus,
    clock: FakeClock,
) -> None:
    in_flight(ledger)
    reconciler.fence("o-1", REASON)
    provider.made_charge("ch_1")  # the open attempt's charge completes at the provider

    assert reconciler.reconcile_due(limit=10).reconciled == []  # not due yet
    clock.advance(RECHECK_AFTER)
    run = reconciler.reconcile_due(limit=10)

    assert (run.reconciled, run.refunds_announced) == (["o-1"], 1)
    assert provider.refunded == ["ch_1"]
    assert len(bus.of_type(PaymentRefunded)) == 1
    assert record(ledger).reconcile_due is None


def test_the_reconciler_keeps_looking_within_the_window_then_stops(
    reconciler: PaymentReconciler,
    ledger: DynamoDbPaymentLedger,
    provider: ScriptedProvider,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    in_flight(ledger)
    reconciler.fence("o-1", REASON)

    clock.advance(RECHECK_AFTER)
    assert reconciler.reconcile_due(limit=10).still_due == ["o-1"]
    assert record(ledger).reconcile_due == instant(clock.now() + RECHECK_AFTER)

    clock.advance(RECONCILE_WINDOW)
    with caplog.at_level(logging.WARNING, logger="payments.reconciliation"):
        run = reconciler.reconcile_due(limit=10)

    assert run.reconciled == ["o-1"]
    assert record(ledger).reconcile_due is None
    assert "reconciliation ends" in caplog.text
    assert len(provider.searches) == 3


def test_one_orders_failure_does_not_stop_the_others(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, clock: FakeClock
) -> None:
    for order_id in ("o-1", "o-2"):
        in_flight(ledger, order_id)
        reconciler.fence(order_id, REASON)
    provider.search_errors.append(PaymentProviderUnavailable("HTTP 503"))
    clock.advance(RECHECK_AFTER)

    run = reconciler.reconcile_due(limit=10)

    assert (run.failed, run.still_due) == (["o-1"], ["o-2"])
    assert record(ledger, "o-1").reconcile_due == instant(clock.now())  # still due: retried next run


def test_a_run_stops_at_its_limit_and_when_out_of_time(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, clock: FakeClock
) -> None:
    for order_id in ("o-1", "o-2", "o-3"):
        in_flight(ledger, order_id)
        reconciler.fence(order_id, REASON)
    clock.advance(RECHECK_AFTER)
    searched = len(provider.searches)

    assert len(reconciler.reconcile_due(limit=2).still_due) == 2
    assert reconciler.reconcile_due(limit=10, out_of_time=lambda: True).still_due == []
    assert len(provider.searches) == searched + 2


def test_a_payment_due_but_not_cancelled_is_taken_off_the_schedule(
    reconciler: PaymentReconciler, ledger: DynamoDbPaymentLedger, provider: ScriptedProvider, clock: FakeClock
) -> None:
    in_flight(ledger)
    ledger.schedule_reconcile("o-1", instant(clock.now()))

    run = reconciler.reconcile_due(limit=10)

    assert run.reconciled == ["o-1"]
    assert provider.searches == []
    assert record(ledger).reconcile_due is None
