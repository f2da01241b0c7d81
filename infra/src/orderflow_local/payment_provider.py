"""The local payment provider: a stand-in for the external provider, on the same HTTP protocol.

It answers the Stripe-style API that the payments service's adapter calls, so the local system
exercises the real adapter end to end, failure paths included.

Payment tokens (a charge's ``source``) decide the outcome of a charge:

- ``tok_visa``: charged; 200.
- ``tok_declined``: 402 ``card_declined``; a failed charge is recorded.
- ``tok_unavailable``: 503 on every request, before anything executes: nothing charged, nothing saved.
- ``tok_flaky``: 503 on the first request for an Idempotency-Key (nothing saved), charged after that.
- ``tok_error_after_charge``: charged, then answers 500. The 500 is saved and replayed, so a retry
  with the same key cannot tell that the money moved; only a search finds the charge.
- ``tok_error_before_charge``: answers 500 without charging; saved and replayed forever (a poisoned key).
- ``tok_dropped_after_charge``: charged and the 200 saved, then the connection is closed without
  any response. A retry with the key gets the saved 200.
- ``tok_timeout_after_charge``: charged and the 200 saved, but answered only after
  ``slow_answer_seconds``, so a caller with a shorter read timeout gives up first.
- ``tok_slow_charge``: the request executes for ``slow_answer_seconds`` before it charges (and
  answers 200): meanwhile the key is in flight, so a concurrent request with it gets 409 and a
  search finds no charge yet. The charge that "may yet complete".
- anything else: 400 ``resource_missing`` (the token is never echoed: it is a credential).

Idempotency, as Stripe does it: once a request with an ``Idempotency-Key`` began executing, its
status and body are saved (200, 402 and 500 alike) and replayed to every later request with that
key, with the header ``Idempotent-Replayed: true``. A request that fails before executing (401,
validation, 429/503) saves nothing. A request whose key is still executing gets 409
``idempotency_key_in_use`` and saves nothing. A key reused with other parameters gets 400
``idempotency_error``.

Endpoints:

- ``POST /v1/charges``: form ``amount``, ``currency``, ``source``, ``description``, ``metadata[...]``.
  Charges carry ``metadata``, ``amount_refunded`` and ``refunded``.
- ``GET /v1/charges/search?query=metadata['order_id']:'<id>'``: ``{"object": "search_result",
  "data": [charges, newest first], "has_more": false}`` (failed charges included).
- ``POST /v1/refunds``: form ``charge``, optional ``amount`` (default: what is left), ``metadata[...]``;
  Idempotency-Key honoured as for charges. Answers a refund object; 400 ``charge_already_refunded``
  when nothing is left to refund.
- ``GET /health``.
- For tests of the whole system (no API key needed):
  ``GET /__admin/attempts/<idempotency key>`` -> ``{"idempotencyKey", "attempts"}``: requests made
  with that key, whatever their answer;
  ``GET /__admin/ledger/<order id>`` -> ``{"orderId", "charges", "refunds", "netAmount"}``: the
  order's charges (by ``metadata[order_id]``), their refunds, and what the customer is out of pocket.
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

CHARGES_PATH = "/v1/charges"
CHARGES_SEARCH_PATH = "/v1/charges/search"
REFUNDS_PATH = "/v1/refunds"
HEALTH_PATH = "/health"
ADMIN_ATTEMPTS_PREFIX = "/__admin/attempts/"
ADMIN_LEDGER_PREFIX = "/__admin/ledger/"

# Longer than the adapter's default 20 s read timeout, so a late answer arrives after it gave up.
DEFAULT_SLOW_ANSWER_SECONDS = 25.0


class LocalPaymentToken(StrEnum):
    """The payment tokens this provider understands, named by the outcome they produce."""

    SUCCEEDS = "tok_visa"
    DECLINED = "tok_declined"
    UNAVAILABLE = "tok_unavailable"
    FLAKY = "tok_flaky"
    ERROR_AFTER_CHARGE = "tok_error_after_charge"
    ERROR_BEFORE_CHARGE = "tok_error_before_charge"
    DROPPED_AFTER_CHARGE = "tok_dropped_after_charge"
    TIMEOUT_AFTER_CHARGE = "tok_timeout_after_charge"
    SLOW_CHARGE = "tok_slow_charge"


class Delivery(StrEnum):
    """How an answer reaches the caller."""

    NOW = "now"
    LATE = "late"  # after slow_answer_seconds
    DROPPED = "dropped"  # the connection is closed without a response


# How often the serving loop checks for stop(): the stdlib's 0.5 s makes every stop that slow.
_SHUTDOWN_POLL_SECONDS = 0.05

# Stripe's search syntax for one metadata field: metadata['order_id']:'<value>' (either quote).
_ORDER_QUERY = re.compile(r"""metadata\[(['"])order_id\1\]:(['"])((?:\\.|(?!\2).)*)\2""")


@dataclass(frozen=True)
class ProviderAnswer:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    delivery: Delivery = Delivery.NOW


@dataclass(frozen=True)
class _Execution:
    """What executing a request produced: its answer, and whether the provider keeps it for the key."""

    answer: ProviderAnswer
    saved: bool


@dataclass(frozen=True)
class _SavedAnswer:
    fingerprint: tuple[str, tuple[tuple[str, str], ...]]
    answer: ProviderAnswer


def _error(error_type: str, message: str, **details: str) -> dict[str, Any]:
    return {"error": {"type": error_type, "message": message, **details}}


def _invalid(message: str, **details: str) -> ProviderAnswer:
    return ProviderAnswer(400, _error("invalid_request_error", message, **details))


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _metadata(form: dict[str, str]) -> dict[str, str]:
    prefix, suffix = "metadata[", "]"
    return {
        name[len(prefix) : -len(suffix)]: value
        for name, value in form.items()
        if name.startswith(prefix) and name.endswith(suffix)
    }


@dataclass
class FakeChargesApi:
    """The provider's behaviour, independent of HTTP. Safe to call from many handler threads.

    The lock guards the state only; a request that takes time (``tok_slow_charge``) sleeps without
    it, so other requests, and 409s for its own key, are answered meanwhile.
    """

    api_key: str
    slow_answer_seconds: float = DEFAULT_SLOW_ANSWER_SECONDS
    _attempts: Counter[str] = field(default_factory=Counter)
    _saved: dict[str, _SavedAnswer] = field(default_factory=dict)
    _in_flight: set[str] = field(default_factory=set)
    _charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id, in creation order
    _refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the API -------------------------------------------------------------------------------

    def attempts(self, idempotency_key: str) -> int:
        with self._lock:
            return self._attempts[idempotency_key]

    def charge(
        self, authorization: str | None, idempotency_key: str | None, form: dict[str, str]
    ) -> ProviderAnswer:
        return self._idempotent(
            CHARGES_PATH,
            authorization,
            idempotency_key,
            form,
            lambda first_request: self._execute_charge(form, first_request),
        )

    def refund(
        self, authorization: str | None, idempotency_key: str | None, form: dict[str, str]
    ) -> ProviderAnswer:
        return self._idempotent(
            REFUNDS_PATH, authorization, idempotency_key, form, lambda _: self._execute_refund(form)
        )

    def search_charges(self, authorization: str | None, query: str) -> ProviderAnswer:
        if not self._authorized(authorization):
            return _unauthorized()
        match = _ORDER_QUERY.fullmatch(query.strip())
        if match is None:
            return _invalid("Only metadata['order_id']:'<value>' queries are supported.", param="query")
        order_id = re.sub(r"\\(.)", r"\1", match.group(3))
        with self._lock:
            charges = [copy.deepcopy(c) for c in self._charges.values() if _order_of(c) == order_id]
        charges.reverse()  # newest first
        return ProviderAnswer(200, {"object": "search_result", "data": charges, "has_more": False})

    def ledger(self, order_id: str) -> dict[str, Any]:
        """The order's charges and refunds, and the net amount taken from the customer."""
        with self._lock:
            charges = [copy.deepcopy(c) for c in self._charges.values() if _order_of(c) == order_id]
            charge_ids = {c["id"] for c in charges}
            refunds = [copy.deepcopy(r) for r in self._refunds.values() if r["charge"] in charge_ids]
        charged = sum(c["amount"] for c in charges if c["status"] == "succeeded")
        refunded = sum(r["amount"] for r in refunds if r["status"] == "succeeded")
        return {"orderId": order_id, "charges": charges, "refunds": refunds, "netAmount": charged - refunded}

    # --- idempotency ---------------------------------------------------------------------------

    def _idempotent(
        self,
        path: str,
        authorization: str | None,
        idempotency_key: str | None,
        form: dict[str, str],
        execute: Callable[[bool], _Execution],
    ) -> ProviderAnswer:
        fingerprint = (path, tuple(sorted(form.items())))
        with self._lock:
            if idempotency_key:
                self._attempts[idempotency_key] += 1
            if not self._authorized(authorization):
                return _unauthorized()
            first_request = not idempotency_key or self._attempts[idempotency_key] == 1
            if idempotency_key:
                saved = self._saved.get(idempotency_key)
                if saved is not None:
                    if saved.fingerprint != fingerprint:
                        return ProviderAnswer(400, _reused_key_error(idempotency_key))
                    return replace(saved.answer, replayed=True)
                if idempotency_key in self._in_flight:
                    return ProviderAnswer(409, _key_in_use_error(idempotency_key))
                self._in_flight.add(idempotency_key)
        try:
            execution = execute(first_request)
        except BaseException:
            if idempotency_key:
                with self._lock:
                    self._in_flight.discard(idempotency_key)
            raise
        if idempotency_key:
            kept = ProviderAnswer(execution.answer.status, copy.deepcopy(execution.answer.body))
            with self._lock:
                # Saved before the answer is delivered (late, or not at all): from now on, every
                # request with the key gets this answer, whatever happens to this one's connection.
                if execution.saved:
                    self._saved[idempotency_key] = _SavedAnswer(fingerprint, kept)
                self._in_flight.discard(idempotency_key)
        return execution.answer

    # --- charges -------------------------------------------------------------------------------

    def _execute_charge(self, form: dict[str, str], first_request: bool) -> _Execution:
        invalid = _invalid_charge_parameter(form)
        if invalid:
            message = f"Missing or invalid parameter: {invalid}."
            return _Execution(_invalid(message, code="parameter_invalid", param=invalid), saved=False)
        token = form["source"]
        if token == LocalPaymentToken.UNAVAILABLE or (token == LocalPaymentToken.FLAKY and first_request):
            unavailable = _error("api_error", "The payment provider is temporarily unavailable.")
            return _Execution(ProviderAnswer(503, unavailable), saved=False)
        if token == LocalPaymentToken.SLOW_CHARGE:
            time.sleep(self.slow_answer_seconds)  # in flight, without the lock
        if token in _CHARGING_TOKENS:
            charge = self._record_charge(form, succeeded=True)
            if token == LocalPaymentToken.ERROR_AFTER_CHARGE:
                return _Execution(ProviderAnswer(500, _server_error()), saved=True)
            return _Execution(ProviderAnswer(200, charge, delivery=_CHARGING_TOKENS[token]), saved=True)
        if token == LocalPaymentToken.DECLINED:
            failed = self._record_charge(form, succeeded=False)
            declined = _error(
                "card_error",
                "Your card was declined.",
                code="card_declined",
                decline_code="generic_decline",
                charge=failed["id"],
            )
            return _Execution(ProviderAnswer(402, declined), saved=True)
        if token == LocalPaymentToken.ERROR_BEFORE_CHARGE:
            return _Execution(ProviderAnswer(500, _server_error()), saved=True)
        # The token itself is not echoed: it is the customer's payment credential.
        missing = _invalid("No such token.", code="resource_missing", param="source")
        return _Execution(missing, saved=False)

    def _record_charge(self, form: dict[str, str], succeeded: bool) -> dict[str, Any]:
        charge_id = _new_id("ch")
        charge: dict[str, Any] = {
            "id": charge_id,
            "object": "charge",
            "amount": int(form["amount"]),
            "amount_refunded": 0,
            "refunded": False,
            "currency": form["currency"].lower(),
            "status": "succeeded" if succeeded else "failed",
            "paid": succeeded,
            "captured": succeeded,
            "description": form.get("description"),
            "metadata": _metadata(form),
            "created": int(time.time()),
            "livemode": False,
        }
        with self._lock:
            self._charges[charge_id] = charge
            return copy.deepcopy(charge)

    # --- refunds -------------------------------------------------------------------------------

    def _execute_refund(self, form: dict[str, str]) -> _Execution:
        requested = form.get("amount")
        if requested is not None and (not requested.isdigit() or int(requested) <= 0):
            return _Execution(_invalid("Invalid amount.", code="parameter_invalid", param="amount"), False)
        with self._lock:  # check and refund at once: two refunds cannot both take the last cent
            charge = self._charges.get(form.get("charge", ""))
            if charge is None:
                return _Execution(_invalid("No such charge.", code="resource_missing", param="charge"), False)
            left = charge["amount"] - charge["amount_refunded"] if charge["status"] == "succeeded" else 0
            if left == 0:
                message = f"Charge {charge['id']} has already been refunded."
                return _Execution(_invalid(message, code="charge_already_refunded"), False)
            amount = int(requested) if requested is not None else left
            if amount > left:
                message = f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})."
                return _Execution(_invalid(message, code="amount_too_large", param="amount"), False)
            refund = {
                "id": _new_id("re"),
                "object": "refund",
                "charge": charge["id"],
                "amount": amount,
                "currency": charge["currency"],
                "status": "succeeded",
                "metadata": _metadata(form),
                "created": int(time.time()),
            }
            self._refunds[refund["id"]] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            return _Execution(ProviderAnswer(200, copy.deepcopy(refund)), saved=True)

    def _authorized(self, authorization: str | None) -> bool:
        expected = f"Bearer {self.api_key}".encode()
        return hmac.compare_digest((authorization or "").encode(), expected)


# The tokens whose request charges the card once it executes, and how each answer is delivered.
_CHARGING_TOKENS: dict[str, Delivery] = {
    LocalPaymentToken.SUCCEEDS: Delivery.NOW,
    LocalPaymentToken.FLAKY: Delivery.NOW,
    LocalPaymentToken.SLOW_CHARGE: Delivery.NOW,
    LocalPaymentToken.ERROR_AFTER_CHARGE: Delivery.NOW,
    LocalPaymentToken.DROPPED_AFTER_CHARGE: Delivery.DROPPED,
    LocalPaymentToken.TIMEOUT_AFTER_CHARGE: Delivery.LATE,
}


def _order_of(charge: dict[str, Any]) -> str | None:
    order_id = charge.get("metadata", {}).get("order_id")
    return order_id if isinstance(order_id, str) else None


def _invalid_charge_parameter(form: dict[str, str]) -> str | None:
    amount = form.get("amount", "")
    if not amount.isdigit() or int(amount) <= 0:
        return "amount"
    currency = form.get("currency", "")
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        return "currency"
    if not form.get("source"):
        return "source"
    return None


def _unauthorized() -> ProviderAnswer:
    return ProviderAnswer(401, _error("invalid_request_error", "Invalid API Key provided."))


def _server_error() -> dict[str, Any]:
    return _error("api_error", "An unknown error occurred while processing the request.")


def _key_in_use_error(key: str) -> dict[str, Any]:
    message = f"There is currently another in-progress request using the Idempotency-Key {key!r}."
    return _error("idempotency_error", message, code="idempotency_key_in_use")


def _reused_key_error(key: str) -> dict[str, Any]:
    message = f"Keys for idempotent requests can only be used with the same parameters ({key!r})."
    return _error("idempotency_error", message, code="idempotency_key_reused")


class _ProviderHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: FakeChargesApi) -> None:
        self.api = api
        super().__init__(address, _ProviderRequestHandler)


class _ProviderRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the adapter's connection pool expects
    timeout = 30  # an idle keep-alive connection releases its thread after this many seconds
    server: _ProviderHttpServer

    def do_GET(self) -> None:
        address = urlsplit(self.path)
        path, api = address.path, self.server.api
        if path == HEALTH_PATH:
            answer = ProviderAnswer(200, {"status": "ok"})
        elif path == CHARGES_SEARCH_PATH:
            query = parse_qs(address.query).get("query", [""])[-1]
            answer = api.search_charges(self.headers.get("Authorization"), query)
        elif path.startswith(ADMIN_ATTEMPTS_PREFIX):
            key = unquote(path[len(ADMIN_ATTEMPTS_PREFIX) :])
            answer = ProviderAnswer(200, {"idempotencyKey": key, "attempts": api.attempts(key)})
        elif path.startswith(ADMIN_LEDGER_PREFIX):
            answer = ProviderAnswer(200, api.ledger(unquote(path[len(ADMIN_LEDGER_PREFIX) :])))
        else:
            answer = _not_found()
        logger.debug("GET %s -> %d", path, answer.status)
        self._send(answer)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        form = self._read_form()
        idempotency_key = self.headers.get("Idempotency-Key")
        authorization = self.headers.get("Authorization")
        if form is None:
            answer = ProviderAnswer(400, _error("invalid_request_error", "The request body is not readable."))
        elif path == CHARGES_PATH:
            answer = self.server.api.charge(authorization, idempotency_key, form)
        elif path == REFUNDS_PATH:
            answer = self.server.api.refund(authorization, idempotency_key, form)
        else:
            answer = _not_found()
        # Logged before answering, so the line exists by the time the caller has its answer.
        # Neither the Authorization header nor the payment token is logged: both are credentials.
        logger.info(
            "POST %s -> %d idempotency_key=%s replayed=%s delivery=%s",
            path,
            answer.status,
            idempotency_key,
            answer.replayed,
            answer.delivery,
        )
        self._send(answer)

    def _read_form(self) -> dict[str, str] | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            return None
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length > 0 else ""
        return {name: values[-1] for name, values in parse_qs(raw, keep_blank_values=True).items()}

    def _send(self, answer: ProviderAnswer) -> None:
        if answer.delivery is Delivery.DROPPED:
            self.close_connection = True  # no status line, no headers: the caller sees the socket close
            return
        if answer.delivery is Delivery.LATE:
            time.sleep(self.server.api.slow_answer_seconds)
        payload = json.dumps(answer.body).encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", _new_id("req"))
            if answer.replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # A late answer whose caller already gave up: nobody is left to read it.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silences the stdlib's stderr access log; each request logs one line to ``logger`` instead."""


def _not_found() -> ProviderAnswer:
    return ProviderAnswer(404, _error("invalid_request_error", "Unrecognized request URL."))


class PaymentProviderServer:
    """The local provider on a real socket. It binds on construction, so ``url`` is known before ``start``.

    ``slow_answer_seconds`` is how late ``tok_timeout_after_charge`` answers and how long
    ``tok_slow_charge`` executes: set it beyond the adapter's read timeout.
    """

    def __init__(
        self,
        api_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
        slow_answer_seconds: float = DEFAULT_SLOW_ANSWER_SECONDS,
    ) -> None:
        if not api_key:
            raise ValueError("the payment provider needs an API key to check requests against")
        if slow_answer_seconds < 0:
            raise ValueError(f"slow_answer_seconds must not be negative, got {slow_answer_seconds!r}")
        self._api = FakeChargesApi(api_key, slow_answer_seconds=slow_answer_seconds)
        self._httpd = _ProviderHttpServer((host, port), self._api)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def attempts(self, idempotency_key: str) -> int:
        return self._api.attempts(idempotency_key)

    def ledger(self, order_id: str) -> dict[str, Any]:
        """What ``GET /__admin/ledger/<order id>`` answers."""
        return self._api.ledger(order_id)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the payment provider is already started")
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_SECONDS},
            name="payment-provider",
            daemon=True,
        )
        self._thread.start()
        logger.info("payment provider listening on %s", self.url)

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> PaymentProviderServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
