"""G2 end to end: stock is conserved, nothing stays reserved for a settled order, no update is lost."""

from __future__ import annotations

import time

from tests.support.guarantees import catalogue_item, reservation
from tests.support.local_stack import http
from tests.support.saga import as_operator, inventory, wait_until
from tests.support.scenario import Scenario

# ReserveStock's whole budget at the tests' time scale: three attempts of 120 s plus 10 s and 20 s
# of backoff, times 0.02, is 7.8 s. Held longer than that, every command arrives after the release.
HELD_PAST_THE_STEP = 10


def test_a_reserve_stock_that_arrives_after_the_release_reserves_nothing(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "late-reserve-stock",
            "point": "deliver",
            "queue": "ReserveStockFunction",
            "action": "delay",
            "seconds": HELD_PAST_THE_STEP,
            "match": scenario.sku,
        }
    )
    scenario.place("tok_visa")

    order = scenario.terminal()
    assert order["status"] == "OUT_OF_STOCK"  # the reservation never answered in time
    # Inventory releases on OrderOutOfStock, beside the status projection: the tombstone may follow.
    wait_until(
        lambda: (reservation(scenario.stack, scenario.order_id) or {}).get("state") == "RELEASED",
        message="the released reservation's tombstone",
    )
    commands = scenario.fired("late-reserve-stock")
    assert commands == 3  # the first attempt and both retries, all held

    # Every held command is delivered late, finds the tombstone, and moves no stock.
    time.sleep(HELD_PAST_THE_STEP + 2)
    wait_until(lambda: _queue_is_drained(scenario), message="the late ReserveStock commands")
    assert inventory(scenario.stack, scenario.sku) | {"sku": ""} == {
        "sku": "",
        "available": 10,
        "reserved": 0,
        "sold": 0,
        "stocked": 10,
        "unitPrice": 2500,
        "currency": "USD",
    }
    assert reservation(scenario.stack, scenario.order_id)["state"] == "RELEASED"  # type: ignore[index]
    scenario.guarantees_hold()


def _queue_is_drained(scenario: Scenario) -> bool:
    sqs = scenario.stack.client("sqs")
    (url,) = [u for u in sqs.list_queues()["QueueUrls"] if u.endswith("ReserveStockQueue")]
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return all(int(count) == 0 for count in counts.values())


def test_a_put_with_a_stale_etag_is_refused_and_loses_no_reservation(scenario: Scenario) -> None:
    stack = scenario.stack
    url = f"{stack.api_url}/inventory/{scenario.sku}"
    operator = as_operator(stack)
    read = http("GET", url, headers=operator)
    etag = read.headers["ETag"]
    operator_sets = {"available": read.json()["available"] + 5, "unitPrice": 2500, "currency": "USD"}

    # An order reserves between the operator's read and write.
    scenario.place("tok_declined", quantity=3)
    wait_until(lambda: http("GET", url, headers=operator).headers["ETag"] != etag, message="the reservation")

    stale = http("PUT", url, operator_sets, {"If-Match": etag, **operator})
    assert stale.status == 412
    assert "message" in stale.json()

    # Once the declined order has given its units back, a write based on a fresh read goes through.
    assert scenario.terminal()["status"] == "PAYMENT_FAILED"
    scenario.guarantees_hold()
    fresh = http("GET", url, headers=operator)
    accepted = http(
        "PUT",
        url,
        {**operator_sets, "available": fresh.json()["available"] + 5},
        {"If-Match": fresh.headers["ETag"], **operator},
    )
    assert accepted.status == 200
    assert accepted.headers["ETag"] != fresh.headers["ETag"]
    released = catalogue_item(stack, scenario.sku)
    assert (released["available"], released["reserved"], released["stocked"]) == (15, 0, 15)


def test_an_adjustment_applies_once_per_idempotency_key_and_never_below_zero(scenario: Scenario) -> None:
    url = f"{scenario.stack.api_url}/inventory/{scenario.sku}/adjustments"
    damaged = {"delta": -3, "reason": "damaged in the warehouse"}

    operator = as_operator(scenario.stack)
    first = http("POST", url, damaged, {"Idempotency-Key": "count-7", **operator})
    again = http("POST", url, damaged, {"Idempotency-Key": "count-7", **operator})
    too_many = http("POST", url, {"delta": -8, "reason": "lost"}, operator)

    assert (first.status, again.status) == (200, 200)
    assert first.json() == again.json()
    assert first.json()["available"] == 7
    assert too_many.status == 409
    assert catalogue_item(scenario.stack, scenario.sku)["stocked"] == 7
