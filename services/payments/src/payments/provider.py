"""The payment provider adapter: Stripe's charges API over HTTP.

Request: ``POST {base_url}/v1/charges``, form-encoded ``amount`` (minor units), ``currency``
(lower case), ``source`` (the payment token), ``description`` and ``metadata[...]``, with
``Authorization: Bearer <api key>`` and ``Idempotency-Key: order-<orderId>-charge``. The provider
keeps its answer per key, so a retried charge (a redelivered command, or the workflow retrying after
a timeout whose charge did go through) replays the first outcome instead of charging twice.

Answers: 200 with a ``succeeded`` charge -> ``Charge``; 402 -> ``PaymentDeclined``; 409 (the same
key in flight), 429, 5xx, timeouts and connection errors -> ``PaymentProviderUnavailable``; any other
answer -> ``PaymentRequestRejected``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import urllib3

from payments.errors import PaymentDeclined, PaymentProviderUnavailable, PaymentRequestRejected
from payments.model import Charge, ChargeRequest

logger = logging.getLogger(__name__)

CHARGES_PATH = "/v1/charges"

# Set explicitly, never the library's "wait forever": a stuck provider must fail the attempt well
# inside the function's timeout and the workflow step's heartbeat. A charge that completes after
# the read timeout is not lost: the workflow's retry replays it through the Idempotency-Key.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 20.0

# 409: a request with the same Idempotency-Key is still being processed; 429: rate limited.
_RETRYABLE_CLIENT_STATUSES = frozenset({409, 429})

_MAX_CAUSE_LENGTH = 256


class PaymentProviderClient:
    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str],
        *,
        timeout: urllib3.Timeout | None = None,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self._charges_url = base_url.rstrip("/") + CHARGES_PATH
        self._api_key = api_key
        self._timeout = timeout or urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
        self._http = http or urllib3.PoolManager()

    def charge(self, request: ChargeRequest) -> Charge:
        try:
            response = self._http.request(
                "POST",
                self._charges_url,
                body=_form(request),
                headers={
                    "Authorization": f"Bearer {self._api_key()}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Idempotency-Key": request.idempotency_key,
                },
                timeout=self._timeout,
                # The workflow's Retry policy is the one place that decides how often to retry.
                retries=False,
            )
        except urllib3.exceptions.ReadTimeoutError as error:
            raise PaymentProviderUnavailable(
                f"The payment provider did not answer within {self._timeout.read_timeout} seconds"
            ) from error
        except urllib3.exceptions.HTTPError as error:
            raise PaymentProviderUnavailable("The payment provider could not be reached") from error
        logger.info(
            "payment provider answered HTTP %d",
            response.status,
            extra={
                "idempotency_key": request.idempotency_key,
                "provider_request_id": response.headers.get("Request-Id"),
                "replayed": response.headers.get("Idempotent-Replayed") == "true",
            },
        )
        return _charge_from(response)


def _form(request: ChargeRequest) -> str:
    return urlencode(
        {
            "amount": str(request.amount),
            "currency": request.currency.lower(),
            "source": request.payment_token,
            "description": f"orderflow order {request.order_id}",
            "metadata[order_id]": request.order_id,
            "metadata[customer_id]": request.customer_id,
        }
    )


def _charge_from(response: urllib3.BaseHTTPResponse) -> Charge:
    status = response.status
    body = _json_object(response.data)
    request_id = response.headers.get("Request-Id")
    if status == 200:
        charge_id = body.get("id")
        if body.get("status") == "succeeded" and isinstance(charge_id, str) and charge_id:
            return Charge(charge_id=charge_id)
        raise PaymentRequestRejected(status, "unexpected_charge", _text(body.get("status")), request_id)
    error = body.get("error")
    details: dict[str, Any] = error if isinstance(error, dict) else {}
    if status == 402:
        raise PaymentDeclined(_decline_cause(details))
    if status in _RETRYABLE_CLIENT_STATUSES or status >= 500:
        raise PaymentProviderUnavailable(f"The payment provider is unavailable (HTTP {status})")
    # The provider's message is left out: for a bad request it may quote the payment token.
    raise PaymentRequestRejected(status, _text(details.get("type")), _text(details.get("code")), request_id)


def _decline_cause(error: dict[str, Any]) -> str:
    message = _text(error.get("message")) or "The payment was declined."
    reason = _text(error.get("decline_code")) or _text(error.get("code")) or "declined"
    return f"{message} ({reason})"[:_MAX_CAUSE_LENGTH]


def _json_object(data: bytes | None) -> dict[str, Any]:
    if not data:
        return {}
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
