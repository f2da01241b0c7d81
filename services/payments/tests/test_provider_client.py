"""The payment provider adapter: against the local provider over real HTTP, and its exact protocol."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3

from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.task_token import TaskFailure
from payments.errors import (
    ChargeAlreadyRefunded,
    ChargeInProgress,
    ChargeOutcomeUnknown,
    PaymentDeclined,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
    RefundNotConfirmed,
)
from payments.model import ChargeRequest, ProviderCharge
from payments.provider import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    PaymentProviderClient,
    timeout_from,
)

from .conftest import READ_TIMEOUT_SECONDS as TEST_READ_TIMEOUT
from .conftest import SLOW_ANSWER_SECONDS

ORDER_ID = "o-1"
CHARGE_KEY = "order-o-1-charge"


def charge_request(payment_token: str, order_id: str = ORDER_ID) -> ChargeRequest:
    return ChargeRequest(
        order_id=order_id, customer_id="c-1", amount=2599, currency="USD", payment_token=payment_token
    )


@pytest.fixture
def adapter(provider: PaymentProviderServer, api_key: str) -> PaymentProviderClient:
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=TEST_READ_TIMEOUT)
    return PaymentProviderClient(provider.url, api_key=lambda: api_key, timeout=timeout)


def charged_ids(provider: PaymentProviderServer, order_id: str = ORDER_ID) -> list[str]:
    """The order's succeeded charges, as the provider's own books have them."""
    return [c["id"] for c in provider.ledger(order_id)["charges"] if c["status"] == "succeeded"]


# --- against the local provider ---------------------------------------------------------------


@pytest.mark.enable_socket
def test_a_successful_charge_returns_the_charge_id(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    charge = adapter.charge(charge_request("tok_visa"))

    assert charge.charge_id.startswith("ch_")
    assert provider.attempts(CHARGE_KEY) == 1


@pytest.mark.enable_socket
def test_charging_an_order_again_replays_the_same_charge(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    first = adapter.charge(charge_request("tok_visa"))
    again = adapter.charge(charge_request("tok_visa"))

    assert again == first
    assert provider.attempts(CHARGE_KEY) == 2


@pytest.mark.enable_socket
def test_different_orders_are_different_charges(adapter: PaymentProviderClient) -> None:
    first = adapter.charge(charge_request("tok_visa", order_id="o-1"))
    second = adapter.charge(charge_request("tok_visa", order_id="o-2"))

    assert first != second


@pytest.mark.enable_socket
def test_a_decline_is_a_typed_payment_declined(adapter: PaymentProviderClient) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        adapter.charge(charge_request("tok_declined"))

    assert declined.value.error == "PaymentDeclined"
    assert declined.value.cause == "Your card was declined. (generic_decline)"


@pytest.mark.enable_socket
def test_an_outage_is_a_typed_unavailable_tried_once(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    with pytest.raises(PaymentProviderUnavailable) as unavailable:
        adapter.charge(charge_request("tok_unavailable"))

    assert unavailable.value.error == "PaymentProviderUnavailable"
    assert "HTTP 503" in unavailable.value.cause
    assert provider.attempts(CHARGE_KEY) == 1  # retrying is the workflow's decision, not the adapter's


@pytest.mark.enable_socket
def test_a_flaky_provider_succeeds_on_the_retry(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    with pytest.raises(PaymentProviderUnavailable):
        adapter.charge(charge_request("tok_flaky"))

    assert adapter.charge(charge_request("tok_flaky")).charge_id.startswith("ch_")
    assert provider.attempts(CHARGE_KEY) == 2


@pytest.mark.enable_socket
def test_a_wrong_api_key_is_a_fault_not_a_business_answer(provider: PaymentProviderServer) -> None:
    adapter = PaymentProviderClient(provider.url, api_key=lambda: "sk_test_wrong")

    with pytest.raises(PaymentRequestRejected) as rejected:
        adapter.charge(charge_request("tok_visa"))

    assert not isinstance(rejected.value, TaskFailure)
    assert rejected.value.status == 401
    assert "sk_test_wrong" not in str(rejected.value)


@pytest.mark.enable_socket
def test_an_unknown_payment_token_is_a_fault_that_does_not_quote_the_token(
    adapter: PaymentProviderClient,
) -> None:
    with pytest.raises(PaymentRequestRejected) as rejected:
        adapter.charge(charge_request("tok_mystery"))

    assert (rejected.value.status, rejected.value.error_code) == (400, "resource_missing")
    assert rejected.value.request_id is not None
    assert "tok_mystery" not in str(rejected.value)


@pytest.mark.enable_socket
def test_the_api_key_is_read_for_every_charge_so_a_rotated_key_takes_effect(
    provider: PaymentProviderServer, api_key: str
) -> None:
    keys = iter(["sk_test_old", api_key])
    adapter = PaymentProviderClient(provider.url, api_key=lambda: next(keys))

    with pytest.raises(PaymentRequestRejected):
        adapter.charge(charge_request("tok_visa"))
    assert adapter.charge(charge_request("tok_visa")).charge_id.startswith("ch_")


@pytest.mark.enable_socket
def test_a_provider_that_refuses_connections_is_unavailable(api_key: str) -> None:
    stopped = PaymentProviderServer(api_key=api_key)
    stopped.stop()
    adapter = PaymentProviderClient(stopped.url, api_key=lambda: api_key)

    with pytest.raises(PaymentProviderUnavailable, match="could not be reached"):
        adapter.charge(charge_request("tok_visa"))


@pytest.fixture
def silent_provider_url() -> Iterator[str]:
    """A listening socket that accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        host, port = listener.getsockname()
        yield f"http://{host}:{port}"


@pytest.mark.enable_socket
def test_a_provider_that_does_not_answer_in_time_leaves_the_outcome_unknown(silent_provider_url: str) -> None:
    adapter = PaymentProviderClient(
        silent_provider_url, api_key=lambda: "sk_test", timeout=urllib3.Timeout(connect=1, read=0.2)
    )

    with pytest.raises(ChargeOutcomeUnknown, match=r"no answer within 0\.2 seconds.*could not be searched"):
        adapter.charge(charge_request("tok_visa"))


@pytest.mark.enable_socket
def test_an_error_after_the_charge_is_answered_by_the_charge_the_search_finds(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    charge = adapter.charge(charge_request("tok_error_after_charge"))

    assert [charge.charge_id] == charged_ids(provider)
    assert adapter.charge(charge_request("tok_error_after_charge")) == charge  # the replayed 500 too
    assert provider.attempts(CHARGE_KEY) == 2


@pytest.mark.enable_socket
def test_an_error_before_the_charge_stays_unknown_and_no_other_key_is_tried(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    for _ in range(2):
        with pytest.raises(ChargeOutcomeUnknown, match="HTTP 500") as unknown:
            adapter.charge(charge_request("tok_error_before_charge"))
        assert unknown.value.error == "PaymentProviderUnavailable"

    assert charged_ids(provider) == []
    assert provider.attempts(CHARGE_KEY) == 2
    assert provider.attempts("order-o-1-charge-2") == 0


@pytest.mark.enable_socket
def test_a_dropped_connection_after_the_charge_is_answered_by_the_search(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    charge = adapter.charge(charge_request("tok_dropped_after_charge"))

    assert [charge.charge_id] == charged_ids(provider)
    assert provider.attempts(CHARGE_KEY) == 1


@pytest.mark.enable_socket
def test_a_read_timeout_after_the_charge_is_answered_by_the_search(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    started = time.monotonic()

    charge = adapter.charge(charge_request("tok_timeout_after_charge"))

    assert [charge.charge_id] == charged_ids(provider)
    assert time.monotonic() - started < SLOW_ANSWER_SECONDS  # it did not wait for the late answer


@pytest.mark.enable_socket
def test_a_charge_still_executing_is_unknown_and_a_concurrent_one_is_in_progress(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(adapter.charge, charge_request("tok_slow_charge"))
        time.sleep(TEST_READ_TIMEOUT / 4)
        with pytest.raises(ChargeInProgress) as busy:
            adapter.charge(charge_request("tok_slow_charge"))
        with pytest.raises(ChargeOutcomeUnknown, match="no charge for the order was found"):
            first.result()

    assert not isinstance(busy.value, TaskFailure)
    assert charged_ids(provider) == []  # not yet: it completes after the adapter gave up
    time.sleep(SLOW_ANSWER_SECONDS)
    assert len(charged_ids(provider)) == 1
    assert adapter.charge(charge_request("tok_slow_charge")).charge_id == charged_ids(provider)[0]


@pytest.mark.enable_socket
def test_find_charges_lists_the_orders_charges_failed_ones_included(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    with pytest.raises(PaymentDeclined):
        adapter.charge(charge_request("tok_declined", order_id="o-2"))
    charge = adapter.charge(charge_request("tok_visa"))

    assert adapter.find_charges(ORDER_ID) == [ProviderCharge(charge.charge_id, 2599, "USD", "succeeded")]
    [declined] = adapter.find_charges("o-2")
    assert not declined.succeeded
    assert adapter.find_charges("o-'quoted'") == []


@pytest.mark.enable_socket
def test_a_refund_gives_the_charge_back_once_per_key(
    adapter: PaymentProviderClient, provider: PaymentProviderServer
) -> None:
    charge = adapter.charge(charge_request("tok_visa"))

    refund = adapter.refund(charge.charge_id, "order-o-1-refund-x", "the order failed")
    again = adapter.refund(charge.charge_id, "order-o-1-refund-x", "the order failed")

    assert refund == again
    assert (refund.charge_id, refund.amount, refund.currency) == (charge.charge_id, 2599, "USD")
    assert refund.refund_id.startswith("re_")
    assert provider.ledger(ORDER_ID)["netAmount"] == 0
    [kept] = provider.ledger(ORDER_ID)["refunds"]
    assert kept["metadata"] == {"reason": "the order failed"}
    with pytest.raises(ChargeAlreadyRefunded):
        adapter.refund(charge.charge_id, "another-key", "the order failed")


@pytest.mark.enable_socket
def test_a_refund_the_provider_does_not_confirm_is_retried_later(silent_provider_url: str) -> None:
    adapter = PaymentProviderClient(
        silent_provider_url, api_key=lambda: "sk_test", timeout=urllib3.Timeout(connect=1, read=0.2)
    )

    with pytest.raises(RefundNotConfirmed):
        adapter.refund("ch_1", "order-o-1-refund-ch_1", "the order failed")


# --- the exact protocol, through a recording HTTP pool ----------------------------------------


NO_CHARGES = (200, b'{"object": "search_result", "data": [], "has_more": false}')
FOUND_CHARGE = (
    200,
    b'{"object": "search_result", "has_more": false, "data": ['
    b'{"id": "ch_failed", "status": "failed", "amount": 2599, "currency": "usd"},'
    b'{"id": "ch_found", "status": "succeeded", "amount": 2599, "currency": "usd", "amount_refunded": 0}]}',
)


@dataclass
class RecordingHttp:
    """Stands in for urllib3's PoolManager: records each request and answers with a canned response,
    then with each of ``then`` in turn (a status and body, or an exception to raise)."""

    status: int = 200
    body: bytes = b'{"id": "ch_123", "object": "charge", "status": "succeeded"}'
    headers: dict[str, str] = field(default_factory=lambda: {"Request-Id": "req_1"})
    then: list[tuple[int, bytes] | Exception] = field(default_factory=list)
    raise_first: Exception | None = None  # the first request fails with this instead
    requests: list[dict[str, Any]] = field(default_factory=list)

    def request(self, method: str, url: str, **options: Any) -> urllib3.HTTPResponse:
        self.requests.append({"method": method, "url": url, **options})
        answer: tuple[int, bytes] | Exception = self.raise_first or (self.status, self.body)
        if len(self.requests) > 1:
            answer = self.then.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return urllib3.HTTPResponse(body=body, status=status, headers=self.headers)


def recording_adapter(
    http: RecordingHttp, base_url: str = "https://api.example.test"
) -> PaymentProviderClient:
    return PaymentProviderClient(base_url, api_key=lambda: "sk_test_123", http=http)  # type: ignore[arg-type]


def recorded_charge(http: RecordingHttp, base_url: str = "https://api.example.test") -> str:
    return recording_adapter(http, base_url).charge(charge_request("tok_visa")).charge_id


def test_the_charge_request_is_a_stripe_form_post_with_the_order_idempotency_key() -> None:
    http = RecordingHttp()

    recorded_charge(http, base_url="https://api.example.test/")

    [sent] = http.requests
    assert (sent["method"], sent["url"]) == ("POST", "https://api.example.test/v1/charges")
    assert sent["headers"] == {
        "Authorization": "Bearer sk_test_123",
        "Content-Type": "application/x-www-form-urlencoded",
        "Idempotency-Key": "order-o-1-charge",
    }
    assert parse_qs(sent["body"]) == {
        "amount": ["2599"],
        "currency": ["usd"],
        "source": ["tok_visa"],
        "description": ["orderflow order o-1"],
        "metadata[order_id]": ["o-1"],
        "metadata[customer_id]": ["c-1"],
    }


def test_timeouts_are_explicit_and_nothing_is_retried_inside_the_adapter() -> None:
    http = RecordingHttp()

    recorded_charge(http)

    [sent] = http.requests
    assert sent["timeout"].connect_timeout == CONNECT_TIMEOUT_SECONDS
    assert sent["timeout"].read_timeout == READ_TIMEOUT_SECONDS
    assert sent["retries"] is False


@pytest.mark.parametrize(
    ("status", "body"),
    [(429, b'{"error": {"type": "rate_limit_error"}}'), (503, b'{"error": {"type": "api_error"}}')],
)
def test_answers_given_before_executing_are_unavailable_without_a_search(status: int, body: bytes) -> None:
    http = RecordingHttp(status=status, body=body)

    with pytest.raises(PaymentProviderUnavailable, match=f"HTTP {status}") as unavailable:
        recorded_charge(http)

    assert not isinstance(unavailable.value, ChargeOutcomeUnknown)
    assert len(http.requests) == 1


def test_a_key_in_use_is_not_an_answer_and_not_searched() -> None:
    http = RecordingHttp(status=409, body=b'{"error": {"type": "idempotency_error"}}')

    with pytest.raises(ChargeInProgress):
        recorded_charge(http)

    assert len(http.requests) == 1


LOST_ANSWERS = [
    pytest.param((500, b'{"error": {"type": "api_error"}}'), id="500"),
    pytest.param((502, b"<html>Bad Gateway</html>"), id="502"),
    pytest.param(urllib3.exceptions.ProtocolError("Connection aborted."), id="dropped"),
    pytest.param(urllib3.exceptions.ReadTimeoutError(None, "/v1/charges", "read timed out"), id="timeout"),
]


def lost(answer: tuple[int, bytes] | Exception, *then: tuple[int, bytes] | Exception) -> RecordingHttp:
    """A pool whose charge request ends with ``answer``, and whose next requests get ``then``."""
    if isinstance(answer, Exception):
        return RecordingHttp(raise_first=answer, then=list(then))
    return RecordingHttp(status=answer[0], body=answer[1], then=list(then))


@pytest.mark.parametrize("answer", LOST_ANSWERS)
def test_a_lost_answer_is_resolved_by_searching_the_orders_charges(answer: Any) -> None:
    http = lost(answer, FOUND_CHARGE)

    assert recorded_charge(http) == "ch_found"

    search = http.requests[1]
    assert (search["method"], search["body"]) == ("GET", None)
    assert urlsplit(search["url"]).path == "/v1/charges/search"
    assert parse_qs(urlsplit(search["url"]).query) == {"query": ["metadata['order_id']:'o-1'"]}
    assert search["headers"] == {"Authorization": "Bearer sk_test_123"}
    assert [r["method"] for r in http.requests] == ["POST", "GET"]  # never a second charge


@pytest.mark.parametrize("answer", LOST_ANSWERS)
def test_a_lost_answer_with_no_charge_found_is_unknown(answer: Any) -> None:
    http = lost(answer, NO_CHARGES)

    with pytest.raises(ChargeOutcomeUnknown, match="no charge for the order was found"):
        recorded_charge(http)

    assert [r["method"] for r in http.requests] == ["POST", "GET"]


@pytest.mark.parametrize(
    "search_answer",
    [
        (503, b""),
        (401, b'{"error": {"type": "invalid_request_error"}}'),
        urllib3.exceptions.ProtocolError("x"),
    ],
    ids=["503", "401", "dropped"],
)
def test_a_lost_answer_whose_search_fails_is_unknown(search_answer: Any) -> None:
    with pytest.raises(ChargeOutcomeUnknown, match="could not be searched"):
        recorded_charge(lost((500, b""), search_answer))


def test_an_order_id_is_quoted_in_the_search_query() -> None:
    http = RecordingHttp(status=NO_CHARGES[0], body=NO_CHARGES[1])

    recording_adapter(http).find_charges("o'1\\x")

    assert parse_qs(urlsplit(http.requests[0]["url"]).query) == {
        "query": ["metadata['order_id']:'o\\'1\\\\x'"]
    }


def test_the_refund_request_is_a_stripe_form_post_with_the_given_key() -> None:
    http = RecordingHttp(
        body=b'{"id": "re_1", "object": "refund", "status": "succeeded", "amount": 2599, "currency": "usd"}'
    )

    refund = recording_adapter(http).refund("ch_1", "order-o-1-refund-ch_1", "x" * 600)

    assert (refund.refund_id, refund.charge_id, refund.amount, refund.currency) == (
        "re_1",
        "ch_1",
        2599,
        "USD",
    )
    [sent] = http.requests
    assert (sent["method"], sent["url"]) == ("POST", "https://api.example.test/v1/refunds")
    assert sent["headers"]["Idempotency-Key"] == "order-o-1-refund-ch_1"
    assert parse_qs(sent["body"]) == {"charge": ["ch_1"], "metadata[reason]": ["x" * 500]}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            b'{"error": {"type": "invalid_request_error", "code": "charge_already_refunded"}}',
            ChargeAlreadyRefunded,
        ),
        (409, b'{"error": {"type": "idempotency_error"}}', RefundNotConfirmed),
        (500, b"", RefundNotConfirmed),
        (503, b"", RefundNotConfirmed),
        (200, b'{"status": "failed"}', RefundNotConfirmed),
        (
            400,
            b'{"error": {"type": "invalid_request_error", "code": "resource_missing"}}',
            PaymentRequestRejected,
        ),
    ],
)
def test_refund_answers(status: int, body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        recording_adapter(RecordingHttp(status=status, body=body)).refund("ch_1", "k", "r")


def test_the_read_timeout_comes_from_the_environment() -> None:
    assert timeout_from({}).read_timeout == READ_TIMEOUT_SECONDS
    assert timeout_from({"PAYMENT_PROVIDER_READ_TIMEOUT_SECONDS": "2.5"}).read_timeout == 2.5
    assert (
        timeout_from({"PAYMENT_PROVIDER_READ_TIMEOUT_SECONDS": "2.5"}).connect_timeout
        == CONNECT_TIMEOUT_SECONDS
    )
    with pytest.raises(ValueError, match="PAYMENT_PROVIDER_READ_TIMEOUT_SECONDS"):
        timeout_from({"PAYMENT_PROVIDER_READ_TIMEOUT_SECONDS": "0"})


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, b'{"error": {"type": "invalid_request_error"}}'),
        (404, b'{"error": {"type": "invalid_request_error"}}'),
        (200, b'{"id": "ch_123", "status": "pending"}'),
        (200, b'{"status": "succeeded"}'),
        (200, b"not json"),
        (302, b""),
    ],
)
def test_answers_that_mean_our_request_is_wrong_are_faults(status: int, body: bytes) -> None:
    with pytest.raises(PaymentRequestRejected) as rejected:
        recorded_charge(RecordingHttp(status=status, body=body))

    assert rejected.value.status == status


def test_a_decline_without_details_still_has_a_readable_cause() -> None:
    with pytest.raises(PaymentDeclined) as declined:
        recorded_charge(RecordingHttp(status=402, body=b"{}"))

    assert declined.value.cause == "The payment was declined. (declined)"


def test_the_payment_token_is_not_part_of_a_charge_requests_repr() -> None:
    assert "tok_visa" not in repr(charge_request("tok_visa"))
