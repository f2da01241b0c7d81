"""G1 end to end: at most one charge per order, and nothing kept from an order that failed.

Each test drives one order through the real local stack with a provider token or a fault that
breaks its payment in one way, and then checks every guarantee of docs/reliability.md on the
provider's ledger, the stock, the order, S3, SES and the queues.
"""

from __future__ import annotations

import pytest

from tests.support.local_stack import http
from tests.support.scenario import Scenario

# The charge request itself (not the lookup or a refund) of one customer's order.
CHARGE_REQUEST = ["POST ", "/v1/charges\n"]


def charges(scenario: Scenario) -> list[dict[str, object]]:
    return [charge for charge in scenario.ledger()["charges"] if charge["status"] == "succeeded"]


def attempts(scenario: Scenario) -> int:
    key = f"order-{scenario.order_id}-charge"
    return int(
        http("GET", f"{scenario.stack.payment_provider_url}/__admin/attempts/{key}").json()["attempts"]
    )


def test_a_crash_after_the_charge_is_retried_into_the_same_single_charge(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "crash-after-charge",
            "point": "after:provider",
            "action": "crash",
            "function": "ProcessPaymentFunction",
            "match": [scenario.customer_id, *CHARGE_REQUEST],
            "times": 1,
        }
    )
    scenario.place("tok_visa")

    order = scenario.terminal()

    assert scenario.fired("crash-after-charge") == 1
    assert order["status"] == "COMPLETED"
    assert len(charges(scenario)) == 1
    assert attempts(scenario) >= 2  # the retry replayed the saved answer of the same key
    scenario.guarantees_hold()


def test_a_charge_whose_every_attempt_crashes_is_refunded_when_the_order_fails(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "crash-after-every-charge",
            "point": "after:provider",
            "action": "crash",
            "function": "ProcessPaymentFunction",
            "match": [scenario.customer_id, *CHARGE_REQUEST],
        }
    )
    scenario.place("tok_visa")

    order = scenario.terminal()

    assert order["status"] == "PAYMENT_FAILED"
    # Every attempt that reached the provider died after it; how many reached it depends on timing
    # (a retry whose heartbeat ran out before it was delivered finds its task closed).
    assert scenario.fired("crash-after-every-charge") >= 1
    scenario.guarantees_hold()  # net zero, stock back, one failure email
    ledger = scenario.ledger()
    assert len(charges(scenario)) == 1
    assert [refund["charge"] for refund in ledger["refunds"]] == [charges(scenario)[0]["id"]]


@pytest.mark.parametrize(
    "token", ["tok_dropped_after_charge", "tok_error_after_charge", "tok_timeout_after_charge"]
)
def test_a_lost_answer_after_the_charge_is_resolved_by_lookup(scenario: Scenario, token: str) -> None:
    scenario.place(token)

    order = scenario.terminal()

    assert order["status"] == "COMPLETED"
    assert len(charges(scenario)) == 1
    assert attempts(scenario) == 1  # found by looking it up: no second request to charge
    scenario.guarantees_hold()


def test_a_replayed_500_without_a_charge_fails_the_payment_and_never_charges(scenario: Scenario) -> None:
    scenario.place("tok_error_before_charge")

    order = scenario.terminal()

    assert order["status"] == "PAYMENT_FAILED"
    assert attempts(scenario) == 4  # every retry got the saved 500 back; none used another key
    assert charges(scenario) == []
    scenario.guarantees_hold()


def test_concurrent_deliveries_of_one_payment_command_charge_once(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "twin-payment",
            "point": "deliver",
            "queue": "ProcessPaymentFunction",
            "action": "duplicate",
            "concurrent": True,
            "copies": 2,
            "match": scenario.customer_id,
            "times": 1,
        }
    )
    scenario.place("tok_slow_charge")  # the twin's request meets the first one still in flight

    order = scenario.terminal()

    assert scenario.fired("twin-payment") == 1
    assert order["status"] == "COMPLETED"
    assert len(charges(scenario)) == 1
    assert attempts(scenario) >= 2
    scenario.guarantees_hold()
