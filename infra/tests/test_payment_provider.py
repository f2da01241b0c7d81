"""The local payment provider over real HTTP on the loopback interface."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest

from orderflow_local.payment_provider import PaymentProviderServer

pytestmark = pytest.mark.enable_socket

API_KEY = "sk_test_local_provider_key"


@pytest.fixture
def provider() -> Iterator[PaymentProviderServer]:
    with PaymentProviderServer(api_key=API_KEY) as server:
        yield server


class Response:
    def __init__(self, raw: http.client.HTTPResponse) -> None:
        self.status = raw.status
        self.headers = raw.headers
        self.json: dict[str, Any] = json.loads(raw.read())


def request(
    server: PaymentProviderServer,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return Response(connection.getresponse())
    finally:
        connection.close()


def charge(
    server: PaymentProviderServer,
    token: str,
    idempotency_key: str | None = "order-o-1-charge",
    api_key: str = API_KEY,
    **overrides: str,
) -> Response:
    form = {
        "amount": "2599",
        "currency": "usd",
        "source": token,
        "description": "orderflow order o-1",
        "metadata[order_id]": "o-1",
        **overrides,
    }
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return request(server, "POST", "/v1/charges", body=urlencode(form), headers=headers)


def test_health_answers_ok(provider: PaymentProviderServer) -> None:
    assert request(provider, "GET", "/health").status == 200


def test_a_visa_token_is_charged(provider: PaymentProviderServer) -> None:
    response = charge(provider, "tok_visa")

    assert response.status == 200
    assert response.json["id"].startswith("ch_")
    assert response.json["status"] == "succeeded"
    assert response.json["amount"] == 2599
    assert response.json["currency"] == "usd"
    assert response.json["metadata"] == {"order_id": "o-1"}


def test_a_declined_token_is_a_card_error(provider: PaymentProviderServer) -> None:
    response = charge(provider, "tok_declined")

    assert response.status == 402
    assert response.json["error"]["type"] == "card_error"
    assert response.json["error"]["code"] == "card_declined"


def test_an_unavailable_token_fails_with_503_on_every_attempt(provider: PaymentProviderServer) -> None:
    statuses = [charge(provider, "tok_unavailable").status for _ in range(3)]

    assert statuses == [503, 503, 503]
    assert provider.attempts("order-o-1-charge") == 3


def test_a_flaky_token_fails_once_then_succeeds_and_stays_succeeded(provider: PaymentProviderServer) -> None:
    first = charge(provider, "tok_flaky")
    second = charge(provider, "tok_flaky")
    third = charge(provider, "tok_flaky")

    assert first.status == 503
    assert second.status == 200
    assert third.json["id"] == second.json["id"]
    assert provider.attempts("order-o-1-charge") == 3


def test_flakiness_is_per_idempotency_key(provider: PaymentProviderServer) -> None:
    assert charge(provider, "tok_flaky", idempotency_key="order-a-charge").status == 503
    assert charge(provider, "tok_flaky", idempotency_key="order-b-charge").status == 503


def test_a_retried_charge_replays_the_stored_success(provider: PaymentProviderServer) -> None:
    first = charge(provider, "tok_visa")
    retry = charge(provider, "tok_visa")

    assert retry.status == 200
    assert retry.json == first.json
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_a_retried_decline_replays_the_stored_decline(provider: PaymentProviderServer) -> None:
    first = charge(provider, "tok_declined")
    retry = charge(provider, "tok_declined")

    assert retry.status == 402
    assert retry.json == first.json
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_different_keys_are_different_charges(provider: PaymentProviderServer) -> None:
    first = charge(provider, "tok_visa", idempotency_key="order-a-charge")
    second = charge(provider, "tok_visa", idempotency_key="order-b-charge")

    assert first.json["id"] != second.json["id"]


def test_charges_without_an_idempotency_key_are_not_replayed(provider: PaymentProviderServer) -> None:
    first = charge(provider, "tok_visa", idempotency_key=None)
    second = charge(provider, "tok_visa", idempotency_key=None)

    assert first.json["id"] != second.json["id"]


def test_an_unknown_token_is_an_invalid_request(provider: PaymentProviderServer) -> None:
    response = charge(provider, "tok_nonexistent")

    assert response.status == 400
    assert response.json["error"]["type"] == "invalid_request_error"
    assert response.json["error"]["code"] == "resource_missing"
    assert "tok_nonexistent" not in json.dumps(response.json)


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("amount", "0"), ("amount", "12.50"), ("currency", "dollars"), ("source", "")],
)
def test_invalid_parameters_are_rejected(provider: PaymentProviderServer, parameter: str, value: str) -> None:
    response = charge(provider, "tok_visa", **{parameter: value})

    assert response.status == 400
    assert response.json["error"]["param"] == parameter


@pytest.mark.parametrize("api_key", ["sk_test_wrong", ""])
def test_a_wrong_api_key_is_unauthorized(provider: PaymentProviderServer, api_key: str) -> None:
    response = charge(provider, "tok_visa", api_key=api_key)

    assert response.status == 401
    assert response.json["error"]["type"] == "invalid_request_error"


def test_an_unauthorized_request_stores_nothing(provider: PaymentProviderServer) -> None:
    charge(provider, "tok_visa", api_key="sk_test_wrong")

    assert charge(provider, "tok_visa").status == 200


def test_a_server_error_is_not_stored_for_replay(provider: PaymentProviderServer) -> None:
    assert charge(provider, "tok_unavailable").status == 503

    assert charge(provider, "tok_visa").status == 200


def test_the_admin_endpoint_reports_attempts_per_key(provider: PaymentProviderServer) -> None:
    key = "order-7f3e/x y-charge"
    charge(provider, "tok_unavailable", idempotency_key=key)
    charge(provider, "tok_unavailable", idempotency_key=key)

    response = request(provider, "GET", f"/__admin/attempts/{quote(key, safe='')}")

    assert response.status == 200
    assert response.json == {"idempotencyKey": key, "attempts": 2}
    assert request(provider, "GET", "/__admin/attempts/never-used").json["attempts"] == 0


def test_concurrent_retries_with_one_key_charge_once(provider: PaymentProviderServer) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: charge(provider, "tok_visa"), range(8)))

    assert {r.status for r in responses} == {200}
    assert len({r.json["id"] for r in responses}) == 1
    assert provider.attempts("order-o-1-charge") == 8


def test_unknown_paths_are_not_found(provider: PaymentProviderServer) -> None:
    assert request(provider, "GET", "/v1/refunds").status == 404
    assert request(provider, "POST", "/v1/refunds", body="").status == 404


def test_each_charge_logs_one_line_without_credentials(
    provider: PaymentProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orderflow_local.payment_provider")

    charge(provider, "tok_visa")
    charge(provider, "tok_declined", idempotency_key="order-o-2-charge")
    charge(provider, "tok_visa", api_key="sk_test_wrong")

    charge_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("POST")]
    assert len(charge_lines) == 3
    assert "-> 402" in charge_lines[1]
    assert API_KEY not in caplog.text
    assert "sk_test_wrong" not in caplog.text
    assert "tok_" not in caplog.text


def test_a_stopped_provider_refuses_connections() -> None:
    server = PaymentProviderServer(api_key=API_KEY)
    server.start()
    server.stop()

    with pytest.raises(ConnectionRefusedError):
        request(server, "GET", "/health")


def test_the_url_is_known_before_start() -> None:
    server = PaymentProviderServer(api_key=API_KEY, port=0)
    try:
        assert urlsplit(server.url).port
    finally:
        server.stop()


def test_an_api_key_is_required() -> None:
    with pytest.raises(ValueError, match="API key"):
        PaymentProviderServer(api_key="")
