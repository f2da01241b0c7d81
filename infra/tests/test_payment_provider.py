"""The local payment provider over real HTTP on the loopback interface."""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest

from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_local.stacks import PAYMENTS_STACK, STACKS, LocalEndpoints

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
    timeout: float = 5,
) -> Response:
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=timeout)
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
    client_timeout: float = 5,
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
    return request(
        server, "POST", "/v1/charges", body=urlencode(form), headers=headers, timeout=client_timeout
    )


SLOW_ANSWER_SECONDS = 0.6


@pytest.fixture
def slow_provider() -> Iterator[PaymentProviderServer]:
    """A provider whose slow tokens take SLOW_ANSWER_SECONDS, beyond the short client timeouts below."""
    with PaymentProviderServer(api_key=API_KEY, slow_answer_seconds=SLOW_ANSWER_SECONDS) as server:
        yield server


def search(server: PaymentProviderServer, order_id: str = "o-1", api_key: str = API_KEY) -> Response:
    query = urlencode({"query": f"metadata['order_id']:'{order_id}'"})
    return request(
        server, "GET", f"/v1/charges/search?{query}", headers={"Authorization": f"Bearer {api_key}"}
    )


def refund(
    server: PaymentProviderServer,
    charge_id: str,
    idempotency_key: str | None = "order-o-1-refund",
    **fields: str,
) -> Response:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/x-www-form-urlencoded"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    body = urlencode({"charge": charge_id, **fields})
    return request(server, "POST", "/v1/refunds", body=body, headers=headers)


def ledger(server: PaymentProviderServer, order_id: str = "o-1") -> dict[str, Any]:
    return request(server, "GET", f"/__admin/ledger/{quote(order_id, safe='')}").json


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
    assert (response.json["amount_refunded"], response.json["refunded"]) == (0, False)


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


def test_concurrent_requests_with_one_key_charge_once_and_the_others_get_200_or_409(
    provider: PaymentProviderServer,
) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: charge(provider, "tok_visa"), range(8)))

    assert {r.status for r in responses} <= {200, 409}
    assert len({r.json["id"] for r in responses if r.status == 200}) == 1
    assert len(provider.ledger("o-1")["charges"]) == 1
    assert provider.attempts("order-o-1-charge") == 8


def test_unknown_paths_are_not_found(provider: PaymentProviderServer) -> None:
    assert request(provider, "GET", "/v1/refunds").status == 404
    assert request(provider, "POST", "/v1/customers", body="").status == 404


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


# --- charges whose outcome the caller cannot see ----------------------------------------------


def test_an_error_after_charging_is_saved_and_replayed_while_the_charge_stands(
    provider: PaymentProviderServer,
) -> None:
    first = charge(provider, "tok_error_after_charge")
    retry = charge(provider, "tok_error_after_charge")

    assert (first.status, retry.status) == (500, 500)
    assert first.json["error"]["type"] == "api_error"
    assert retry.json == first.json
    assert retry.headers["Idempotent-Replayed"] == "true"
    [charged] = ledger(provider)["charges"]
    assert (charged["status"], charged["amount"]) == ("succeeded", 2599)
    assert ledger(provider)["netAmount"] == 2599


def test_an_error_before_charging_poisons_the_key_and_charges_nothing(
    provider: PaymentProviderServer,
) -> None:
    answers = [charge(provider, "tok_error_before_charge") for _ in range(3)]

    assert [a.status for a in answers] == [500, 500, 500]
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert ledger(provider) == {"orderId": "o-1", "charges": [], "refunds": [], "netAmount": 0}


def test_a_dropped_answer_charged_and_its_retry_gets_the_saved_charge(
    provider: PaymentProviderServer,
) -> None:
    with pytest.raises(http.client.RemoteDisconnected):
        charge(provider, "tok_dropped_after_charge")

    retry = charge(provider, "tok_dropped_after_charge")

    [charged] = ledger(provider)["charges"]
    assert retry.status == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json["id"] == charged["id"]


def test_a_late_answer_comes_after_the_callers_timeout_and_the_charge_is_saved_before_it(
    slow_provider: PaymentProviderServer,
) -> None:
    with pytest.raises(TimeoutError):
        charge(slow_provider, "tok_timeout_after_charge", client_timeout=0.2)

    retry = charge(slow_provider, "tok_timeout_after_charge", client_timeout=0.2)

    assert retry.status == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert [c["id"] for c in ledger(slow_provider)["charges"]] == [retry.json["id"]]


def test_a_late_answer_does_arrive_for_a_patient_caller(slow_provider: PaymentProviderServer) -> None:
    started = time.monotonic()

    response = charge(slow_provider, "tok_timeout_after_charge")

    assert response.status == 200
    assert time.monotonic() - started >= SLOW_ANSWER_SECONDS


def test_a_key_in_flight_answers_409_saves_nothing_and_its_charge_is_not_found_yet(
    slow_provider: PaymentProviderServer,
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(charge, slow_provider, "tok_slow_charge")
        time.sleep(SLOW_ANSWER_SECONDS / 3)
        concurrent = charge(slow_provider, "tok_slow_charge")
        meanwhile = search(slow_provider)
        first_answer = first.result()

    assert concurrent.status == 409
    assert concurrent.json["error"]["type"] == "idempotency_error"
    assert concurrent.json["error"]["code"] == "idempotency_key_in_use"
    assert meanwhile.json["data"] == []
    assert first_answer.status == 200
    later = charge(slow_provider, "tok_slow_charge")
    assert (later.status, later.json["id"]) == (200, first_answer.json["id"])
    assert later.headers["Idempotent-Replayed"] == "true"


def test_the_lock_is_not_held_while_an_answer_waits(slow_provider: PaymentProviderServer) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = [
            pool.submit(charge, slow_provider, "tok_slow_charge", idempotency_key="order-a-charge"),
            pool.submit(charge, slow_provider, "tok_timeout_after_charge", idempotency_key="order-b-charge"),
        ]
        time.sleep(SLOW_ANSWER_SECONDS / 3)
        started = time.monotonic()
        quick = charge(slow_provider, "tok_visa", idempotency_key="order-c-charge")
        waited = time.monotonic() - started
        assert [s.result().status for s in slow] == [200, 200]

    assert quick.status == 200
    assert waited < SLOW_ANSWER_SECONDS / 2


def test_a_key_reused_with_other_parameters_is_refused_and_keeps_its_answer(
    provider: PaymentProviderServer,
) -> None:
    first = charge(provider, "tok_visa")

    reused = charge(provider, "tok_visa", amount="100")

    assert reused.status == 400
    assert reused.json["error"]["type"] == "idempotency_error"
    assert charge(provider, "tok_visa").json == first.json
    assert len(ledger(provider)["charges"]) == 1


def test_a_decline_records_a_failed_charge_that_costs_nothing(provider: PaymentProviderServer) -> None:
    declined = charge(provider, "tok_declined")

    [failed] = ledger(provider)["charges"]
    assert failed["id"] == declined.json["error"]["charge"]
    assert (failed["status"], failed["paid"]) == ("failed", False)
    assert ledger(provider)["netAmount"] == 0


# --- search -----------------------------------------------------------------------------------


def test_search_finds_an_orders_charges_by_metadata_newest_first(provider: PaymentProviderServer) -> None:
    older = charge(provider, "tok_visa", idempotency_key="k-1")
    newer = charge(provider, "tok_declined", idempotency_key="k-2")
    charge(provider, "tok_visa", idempotency_key="k-3", **{"metadata[order_id]": "o-2"})

    found = search(provider, "o-1")

    assert found.status == 200
    assert (found.json["object"], found.json["has_more"]) == ("search_result", False)
    assert [c["id"] for c in found.json["data"]] == [newer.json["error"]["charge"], older.json["id"]]
    assert [c["metadata"]["order_id"] for c in search(provider, "o-2").json["data"]] == ["o-2"]
    assert search(provider, "o-3").json["data"] == []


def test_search_accepts_double_quotes_and_escaped_quotes(provider: PaymentProviderServer) -> None:
    charge(provider, "tok_visa", **{"metadata[order_id]": "o'1"})
    query = urlencode({"query": 'metadata["order_id"]:"o\'1"'})

    found = request(
        provider, "GET", f"/v1/charges/search?{query}", headers={"Authorization": f"Bearer {API_KEY}"}
    )

    assert [c["metadata"]["order_id"] for c in found.json["data"]] == ["o'1"]


def test_search_needs_the_api_key_and_a_supported_query(provider: PaymentProviderServer) -> None:
    assert search(provider, api_key="sk_test_wrong").status == 401
    unsupported = request(
        provider,
        "GET",
        "/v1/charges/search?" + urlencode({"query": "amount>100"}),
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert (unsupported.status, unsupported.json["error"]["param"]) == (400, "query")


# --- refunds ----------------------------------------------------------------------------------


def test_a_refund_gives_back_what_is_left_of_the_charge(provider: PaymentProviderServer) -> None:
    charged = charge(provider, "tok_visa").json

    response = refund(provider, charged["id"], **{"metadata[reason]": "the order failed"})

    assert response.status == 200
    assert response.json["id"].startswith("re_")
    assert {k: response.json[k] for k in ("object", "charge", "amount", "currency", "status")} == {
        "object": "refund",
        "charge": charged["id"],
        "amount": 2599,
        "currency": "usd",
        "status": "succeeded",
    }
    assert response.json["metadata"] == {"reason": "the order failed"}
    [after] = search(provider).json["data"]
    assert (after["amount_refunded"], after["refunded"]) == (2599, True)
    book = ledger(provider)
    assert [r["id"] for r in book["refunds"]] == [response.json["id"]]
    assert book["netAmount"] == 0


def test_a_retried_refund_replays_and_a_second_key_finds_nothing_left(
    provider: PaymentProviderServer,
) -> None:
    charged = charge(provider, "tok_visa").json
    first = refund(provider, charged["id"])

    retry = refund(provider, charged["id"])
    another = refund(provider, charged["id"], idempotency_key="someone-else")

    assert (retry.status, retry.json) == (200, first.json)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert another.status == 400
    assert another.json["error"]["code"] == "charge_already_refunded"
    assert len(ledger(provider)["refunds"]) == 1
    assert refund(provider, charged["id"], idempotency_key="someone-else").status == 400  # not saved


def test_partial_refunds_add_up_to_the_charge(provider: PaymentProviderServer) -> None:
    charged = charge(provider, "tok_visa").json

    part = refund(provider, charged["id"], idempotency_key="r-1", amount="599")
    too_much = refund(provider, charged["id"], idempotency_key="r-2", amount="2001")
    rest = refund(provider, charged["id"], idempotency_key="r-3")

    assert (part.status, part.json["amount"]) == (200, 599)
    assert (too_much.status, too_much.json["error"]["param"]) == (400, "amount")
    assert (rest.status, rest.json["amount"]) == (200, 2000)
    assert ledger(provider)["netAmount"] == 0


@pytest.mark.parametrize("amount", ["0", "-5", "12.5"])
def test_a_refund_amount_must_be_positive_minor_units(provider: PaymentProviderServer, amount: str) -> None:
    charged = charge(provider, "tok_visa").json

    response = refund(provider, charged["id"], amount=amount)

    assert (response.status, response.json["error"]["param"]) == (400, "amount")


def test_refunds_of_unknown_or_failed_charges_are_refused(provider: PaymentProviderServer) -> None:
    failed = charge(provider, "tok_declined").json["error"]["charge"]

    assert refund(provider, "ch_unknown", idempotency_key="r-1").json["error"]["code"] == "resource_missing"
    assert refund(provider, failed, idempotency_key="r-2").json["error"]["code"] == "charge_already_refunded"


def test_a_refund_key_reused_for_another_charge_is_refused(provider: PaymentProviderServer) -> None:
    first = charge(provider, "tok_visa", idempotency_key="k-1").json
    second = charge(provider, "tok_visa", idempotency_key="k-2").json
    refund(provider, first["id"])

    reused = refund(provider, second["id"])

    assert (reused.status, reused.json["error"]["type"]) == (400, "idempotency_error")
    assert ledger(provider)["netAmount"] == 2599


def test_a_refund_needs_the_api_key(provider: PaymentProviderServer) -> None:
    charged = charge(provider, "tok_visa").json
    body = urlencode({"charge": charged["id"]})

    response = request(provider, "POST", "/v1/refunds", body=body, headers={"Authorization": "Bearer nope"})

    assert response.status == 401
    assert ledger(provider)["netAmount"] == 2599


def test_the_ledger_endpoint_lists_an_orders_charges_and_refunds(provider: PaymentProviderServer) -> None:
    charged = charge(provider, "tok_visa").json
    refunded = refund(provider, charged["id"]).json
    charge(provider, "tok_visa", idempotency_key="k-other", **{"metadata[order_id]": "o-2"})

    book = ledger(provider)

    assert book["orderId"] == "o-1"
    assert [(c["id"], c["amount_refunded"]) for c in book["charges"]] == [(charged["id"], 2599)]
    assert [r["id"] for r in book["refunds"]] == [refunded["id"]]
    assert book["netAmount"] == 0
    assert ledger(provider, "o-2")["netAmount"] == 2599


def test_slow_answer_seconds_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="slow_answer_seconds"):
        PaymentProviderServer(api_key=API_KEY, slow_answer_seconds=-1)


@pytest.mark.parametrize(
    ("time_scale", "read_timeout"), [(1.0, "20"), (0.1, "2"), (0.02, "1"), (0.123, "2.46")]
)
def test_the_payments_stack_waits_for_the_provider_as_long_as_the_system_is_scaled(
    time_scale: float, read_timeout: str
) -> None:
    [payments] = [stack for stack in STACKS if stack.name == PAYMENTS_STACK]
    endpoints = LocalEndpoints("http://127.0.0.1:4567", time_scale=time_scale)

    parameters = payments.parameters(endpoints)

    assert parameters["PaymentProviderReadTimeoutSeconds"] == read_timeout
    assert endpoints.provider_read_timeout_seconds == float(read_timeout)
