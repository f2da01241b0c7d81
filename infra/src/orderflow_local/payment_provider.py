"""The local payment provider: a stand-in for the external provider, on the same HTTP protocol.

It answers the Stripe-style charges API that the payments service's adapter calls, so the local
system exercises the real adapter end to end. The payment token decides the outcome:

- ``tok_visa``: the charge succeeds.
- ``tok_declined``: 402 ``card_declined`` (a permanent failure).
- ``tok_unavailable``: 503 on every attempt.
- ``tok_flaky``: 503 on the first attempt for an Idempotency-Key, success after that.
- anything else: 400 ``resource_missing``.

Like Stripe, a succeeded or declined answer is stored per Idempotency-Key and replayed for a
retried request with the same key (a 5xx is not stored, so a retry is processed afresh), which is
what makes a retried charge safe. Every charge request is counted per Idempotency-Key, so tests of
the whole system can tell how often the provider was called:
``GET /__admin/attempts/<idempotency key>`` -> ``{"idempotencyKey": ..., "attempts": N}``.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

CHARGES_PATH = "/v1/charges"
HEALTH_PATH = "/health"
ADMIN_ATTEMPTS_PREFIX = "/__admin/attempts/"


class LocalPaymentToken(StrEnum):
    """The payment tokens this provider understands, named by the outcome they produce."""

    SUCCEEDS = "tok_visa"
    DECLINED = "tok_declined"
    UNAVAILABLE = "tok_unavailable"
    FLAKY = "tok_flaky"


# Answers that Stripe keeps for an Idempotency-Key; server errors are not kept, so a retry proceeds.
_REPLAYABLE_STATUSES = frozenset({200, 402})

# How often the serving loop checks for stop(): the stdlib's 0.5 s makes every stop that slow.
_SHUTDOWN_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ProviderAnswer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def _error(error_type: str, message: str, **details: str) -> dict[str, Any]:
    return {"error": {"type": error_type, "message": message, **details}}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class FakeChargesApi:
    """The provider's behaviour, independent of HTTP. Safe to call from many handler threads."""

    api_key: str
    _attempts: Counter[str] = field(default_factory=Counter)
    _stored: dict[str, ProviderAnswer] = field(default_factory=dict)
    # One lock around each whole charge: requests with the same key are answered one at a time,
    # so a concurrent retry sees the first one's stored answer (Stripe answers 409 instead).
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attempts(self, idempotency_key: str) -> int:
        with self._lock:
            return self._attempts[idempotency_key]

    def charge(
        self, authorization: str | None, idempotency_key: str | None, form: dict[str, str]
    ) -> ProviderAnswer:
        with self._lock:
            if idempotency_key:
                self._attempts[idempotency_key] += 1
            if not self._authorized(authorization):
                return ProviderAnswer(401, _error("invalid_request_error", "Invalid API Key provided."))
            if idempotency_key and idempotency_key in self._stored:
                stored = self._stored[idempotency_key]
                return ProviderAnswer(stored.status, stored.body, replayed=True)
            first_attempt = not idempotency_key or self._attempts[idempotency_key] == 1
            answer = self._charge(form, first_attempt)
            if idempotency_key and answer.status in _REPLAYABLE_STATUSES:
                self._stored[idempotency_key] = answer
            return answer

    def _authorized(self, authorization: str | None) -> bool:
        expected = f"Bearer {self.api_key}".encode()
        return hmac.compare_digest((authorization or "").encode(), expected)

    def _charge(self, form: dict[str, str], first_attempt: bool) -> ProviderAnswer:
        invalid = _invalid_parameter(form)
        if invalid:
            return ProviderAnswer(
                400,
                _error(
                    "invalid_request_error",
                    f"Missing or invalid parameter: {invalid}.",
                    code="parameter_invalid",
                    param=invalid,
                ),
            )
        token = form["source"]
        if token == LocalPaymentToken.SUCCEEDS or (token == LocalPaymentToken.FLAKY and not first_attempt):
            return ProviderAnswer(200, _succeeded_charge(form))
        if token == LocalPaymentToken.DECLINED:
            return ProviderAnswer(
                402,
                _error(
                    "card_error",
                    "Your card was declined.",
                    code="card_declined",
                    decline_code="generic_decline",
                    charge=_new_id("ch"),
                ),
            )
        if token in (LocalPaymentToken.UNAVAILABLE, LocalPaymentToken.FLAKY):
            return ProviderAnswer(
                503, _error("api_error", "The payment provider is temporarily unavailable.")
            )
        # The token itself is not echoed: it is the customer's payment credential.
        return ProviderAnswer(
            400, _error("invalid_request_error", "No such token.", code="resource_missing", param="source")
        )


def _invalid_parameter(form: dict[str, str]) -> str | None:
    amount = form.get("amount", "")
    if not amount.isdigit() or int(amount) <= 0:
        return "amount"
    currency = form.get("currency", "")
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        return "currency"
    if not form.get("source"):
        return "source"
    return None


def _succeeded_charge(form: dict[str, str]) -> dict[str, Any]:
    metadata_prefix, metadata_suffix = "metadata[", "]"
    metadata = {
        name[len(metadata_prefix) : -len(metadata_suffix)]: value
        for name, value in form.items()
        if name.startswith(metadata_prefix) and name.endswith(metadata_suffix)
    }
    return {
        "id": _new_id("ch"),
        "object": "charge",
        "amount": int(form["amount"]),
        "currency": form["currency"].lower(),
        "status": "succeeded",
        "paid": True,
        "captured": True,
        "description": form.get("description"),
        "metadata": metadata,
        "created": int(time.time()),
        "livemode": False,
    }


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
        path = urlsplit(self.path).path
        if path == HEALTH_PATH:
            answer = ProviderAnswer(200, {"status": "ok"})
        elif path.startswith(ADMIN_ATTEMPTS_PREFIX):
            key = unquote(path[len(ADMIN_ATTEMPTS_PREFIX) :])
            answer = ProviderAnswer(200, {"idempotencyKey": key, "attempts": self.server.api.attempts(key)})
        else:
            answer = _not_found()
        logger.debug("GET %s -> %d", path, answer.status)
        self._send(answer)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        form = self._read_form()
        idempotency_key = self.headers.get("Idempotency-Key")
        if form is None:
            answer = ProviderAnswer(400, _error("invalid_request_error", "The request body is not readable."))
        elif path == CHARGES_PATH:
            answer = self.server.api.charge(self.headers.get("Authorization"), idempotency_key, form)
        else:
            answer = _not_found()
        # Logged before answering, so the line exists by the time the caller has its answer.
        # Neither the Authorization header nor the payment token is logged: both are credentials.
        logger.info(
            "POST %s -> %d idempotency_key=%s replayed=%s",
            path,
            answer.status,
            idempotency_key,
            answer.replayed,
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
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", _new_id("req"))
        if answer.replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silences the stdlib's stderr access log; each request logs one line to ``logger`` instead."""


def _not_found() -> ProviderAnswer:
    return ProviderAnswer(404, _error("invalid_request_error", "Unrecognized request URL."))


class PaymentProviderServer:
    """The local provider on a real socket. It binds on construction, so ``url`` is known before ``start``."""

    def __init__(self, api_key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if not api_key:
            raise ValueError("the payment provider needs an API key to check requests against")
        self._api = FakeChargesApi(api_key)
        self._httpd = _ProviderHttpServer((host, port), self._api)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def attempts(self, idempotency_key: str) -> int:
        return self._api.attempts(idempotency_key)

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
