"""The payment provider adapter: against the local provider over real HTTP, and its exact protocol."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import urllib3

from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.task_token import TaskFailure
from payments.errors import PaymentDeclined, PaymentProviderUnavailable, PaymentRequestRejected
from payments.model import ChargeRequest
from payments.provider import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, PaymentProviderClient

ORDER_ID = "o-1"
CHARGE_KEY = "order-o-1-charge"


def charge_request(payment_token: str, order_id: str = ORDER_ID) -> ChargeRequest:
    return ChargeRequest(
        order_id=order_id, customer_id="c-1", amount=2599, currency="USD", payment_token=payment_token
    )


@pytest.fixture
def adapter(provider: PaymentProviderServer, api_key: str) -> PaymentProviderClient:
    return PaymentProviderClient(provider.url, api_key=lambda: api_key)


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
def test_a_provider_that_does_not_answer_in_time_is_unavailable(silent_provider_url: str) -> None:
    adapter = PaymentProviderClient(
        silent_provider_url, api_key=lambda: "sk_test", timeout=urllib3.Timeout(connect=1, read=0.2)
    )

    with pytest.raises(PaymentProviderUnavailable, match=r"did not answer within 0\.2 seconds"):
        adapter.charge(charge_request("tok_visa"))


# --- the exact protocol, through a recording HTTP pool ----------------------------------------


@dataclass
class RecordingHttp:
    """Stands in for urllib3's PoolManager: records each request and answers with a canned response."""

    status: int = 200
    body: bytes = b'{"id": "ch_123", "object": "charge", "status": "succeeded"}'
    headers: dict[str, str] = field(default_factory=lambda: {"Request-Id": "req_1"})
    requests: list[dict[str, Any]] = field(default_factory=list)

    def request(self, method: str, url: str, **options: Any) -> urllib3.HTTPResponse:
        self.requests.append({"method": method, "url": url, **options})
        return urllib3.HTTPResponse(body=self.body, status=self.status, headers=self.headers)


def recorded_charge(http: RecordingHttp, base_url: str = "https://api.example.test") -> None:
    adapter = PaymentProviderClient(base_url, api_key=lambda: "sk_test_123", http=http)  # type: ignore[arg-type]
    adapter.charge(charge_request("tok_visa"))


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
    [
        (429, b'{"error": {"type": "rate_limit_error"}}'),
        (409, b'{"error": {"type": "idempotency_error"}}'),
        (500, b'{"error": {"type": "api_error"}}'),
        (502, b"<html>Bad Gateway</html>"),
    ],
)
def test_transient_answers_are_unavailable(status: int, body: bytes) -> None:
    with pytest.raises(PaymentProviderUnavailable, match=f"HTTP {status}"):
        recorded_charge(RecordingHttp(status=status, body=body))


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
