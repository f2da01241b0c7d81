"""The payment provider adapter: Stripe's charges, search and refunds APIs over HTTP.

Every request carries ``Authorization: Bearer <api key>``; charges and refunds are form posts with
an ``Idempotency-Key``. The provider keeps the first answer per key once it began executing (a 500
included) and replays it, so a retry with the key never charges twice but cannot recover a lost
outcome either: that is what the search by the order's metadata is for.

Charge (``POST /v1/charges``, key ``order-<orderId>-charge``):

- 200 with a ``succeeded`` charge -> ``Charge``; 402 -> ``PaymentDeclined``;
- 409 (the key is executing for another delivery) -> ``ChargeInProgress``: not an answer;
- 429, 503, or no connection at all -> ``PaymentProviderUnavailable`` (nothing was executed);
- any other 5xx, a dropped connection or a read timeout -> the outcome is unknown: the charges
  made for the order are searched, and a succeeded one is the answer; none found is
  ``ChargeOutcomeUnknown``. Never a second key: a search that finds nothing is not proof.
- any other answer -> ``PaymentRequestRejected`` (our request or key is wrong).

Search: ``GET /v1/charges/search?query=metadata['order_id']:'<orderId>'``.
Refund: ``POST /v1/refunds`` (``charge``, ``metadata[reason]``) -> ``Refund``; 400
``charge_already_refunded`` -> ``ChargeAlreadyRefunded``; anything unconfirmed -> ``RefundNotConfirmed``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import urllib3

from payments.errors import (
    ChargeAlreadyRefunded,
    ChargeInProgress,
    ChargeOutcomeUnknown,
    PaymentDeclined,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
    RefundNotConfirmed,
)
from payments.model import Charge, ChargeRequest, ProviderCharge, Refund

logger = logging.getLogger(__name__)

CHARGES_PATH = "/v1/charges"
CHARGES_SEARCH_PATH = "/v1/charges/search"
REFUNDS_PATH = "/v1/refunds"

# Set explicitly, never the library's "wait forever": a stuck provider must fail the attempt well
# inside the function's timeout and the workflow step's heartbeat. A charge that completes after
# the read timeout is not lost: the search finds it, or the workflow's retry replays it.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 20.0
READ_TIMEOUT_VARIABLE = "PAYMENT_PROVIDER_READ_TIMEOUT_SECONDS"

# Answered before the provider executed anything: safe to retry, nothing can have been charged.
_NOT_EXECUTED_STATUSES = frozenset({429, 503})

_MAX_CAUSE_LENGTH = 256
_MAX_METADATA_VALUE = 500  # Stripe's limit per metadata value


def timeout_from(environment: Mapping[str, str]) -> urllib3.Timeout:
    """The adapter's timeouts, the read timeout as the template configures it."""
    read = float(environment.get(READ_TIMEOUT_VARIABLE) or READ_TIMEOUT_SECONDS)
    if not read > 0:
        raise ValueError(f"{READ_TIMEOUT_VARIABLE} must be a positive number of seconds, got {read!r}")
    return urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=read)


class _NoAnswer(Exception):
    """The request may have reached the provider, but no answer came back."""


class PaymentProviderClient:
    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str],
        *,
        timeout: urllib3.Timeout | None = None,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout or urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
        self._http = http or urllib3.PoolManager()

    # --- charges -------------------------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> Charge:
        try:
            response = self._send(
                "POST", CHARGES_PATH, body=_charge_form(request), key=request.idempotency_key
            )
        except _NoAnswer as lost:
            return self._charge_found_after(request, str(lost))
        status = response.status
        if status == 200:
            return _charge_from(response)
        if status == 402:
            raise PaymentDeclined(_decline_cause(_error_of(response)))
        if status == 409:
            raise ChargeInProgress(f"the charge key of order {request.order_id} is in use (HTTP 409)")
        if status in _NOT_EXECUTED_STATUSES:
            raise PaymentProviderUnavailable(f"The payment provider is unavailable (HTTP {status})")
        if status >= 500:
            return self._charge_found_after(request, f"HTTP {status}")
        raise _rejected(response)

    def _charge_found_after(self, request: ChargeRequest, what_happened: str) -> Charge:
        """The charge's outcome was lost: the provider's charges for the order tell what it did."""
        logger.warning("charge outcome unknown (%s); searching the order's charges", what_happened)
        try:
            charges = self.find_charges(request.order_id)
        except (PaymentProviderUnavailable, PaymentRequestRejected) as error:
            raise ChargeOutcomeUnknown(
                f"The payment provider's answer was lost ({what_happened}) and the order's charges"
                " could not be searched"
            ) from error
        succeeded = [charge for charge in charges if charge.succeeded]
        if not succeeded:
            raise ChargeOutcomeUnknown(
                f"The payment provider's answer was lost ({what_happened}) and no charge for the order"
                " was found (yet)"
            )
        if len(succeeded) > 1:
            # One key per order makes this impossible through us; an operator must look.
            logger.error("%d succeeded charges found for one order", len(succeeded))
        logger.info("charge found after a lost answer", extra={"payment_id": succeeded[0].charge_id})
        return Charge(charge_id=succeeded[0].charge_id)

    def find_charges(self, order_id: str) -> list[ProviderCharge]:
        """The provider's charges for the order (its search is eventually consistent: a fresh charge
        may be missing)."""
        escaped = order_id.replace("\\", "\\\\").replace("'", "\\'")
        query = urlencode({"query": f"metadata['order_id']:'{escaped}'"})
        try:
            response = self._send("GET", f"{CHARGES_SEARCH_PATH}?{query}")
        except _NoAnswer as lost:
            raise PaymentProviderUnavailable(f"The charge search got no answer ({lost})") from lost
        if response.status != 200:
            if response.status in _NOT_EXECUTED_STATUSES or response.status >= 500:
                raise PaymentProviderUnavailable(f"The charge search failed (HTTP {response.status})")
            raise _rejected(response)
        data = _json_object(response.data).get("data")
        return (
            [_provider_charge(item) for item in data if isinstance(item, dict)]
            if isinstance(data, list)
            else []
        )

    # --- refunds -------------------------------------------------------------------------------

    def refund(self, charge_id: str, idempotency_key: str, reason: str) -> Refund:
        body = urlencode({"charge": charge_id, "metadata[reason]": reason[:_MAX_METADATA_VALUE]})
        try:
            response = self._send("POST", REFUNDS_PATH, body=body, key=idempotency_key)
        except _NoAnswer as lost:
            raise RefundNotConfirmed(f"refund of {charge_id}: {lost}") from lost
        if response.status == 200:
            return _refund_from(response, charge_id)
        if response.status == 400 and _error_of(response).get("code") == "charge_already_refunded":
            raise ChargeAlreadyRefunded(f"charge {charge_id} has nothing left to refund")
        if response.status in (409, *_NOT_EXECUTED_STATUSES) or response.status >= 500:
            raise RefundNotConfirmed(f"refund of {charge_id}: HTTP {response.status}")
        raise _rejected(response)

    # --- HTTP ----------------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, body: str | None = None, key: str | None = None
    ) -> urllib3.BaseHTTPResponse:
        """Sends one request; ``_NoAnswer`` when it may have reached the provider without an answer."""
        headers = {"Authorization": f"Bearer {self._api_key()}"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            response = self._http.request(
                method,
                self._base_url + path,
                body=body,
                headers=headers,
                timeout=self._timeout,
                # The workflow's Retry policy and SQS redelivery decide how often to retry.
                retries=False,
            )
        except urllib3.exceptions.ConnectTimeoutError as error:  # no connection (refused ones included)
            raise PaymentProviderUnavailable("The payment provider could not be reached") from error
        except urllib3.exceptions.ReadTimeoutError as error:
            raise _NoAnswer(f"no answer within {self._timeout.read_timeout} seconds") from error
        except urllib3.exceptions.HTTPError as error:  # the connection broke after the request went out
            raise _NoAnswer(f"the connection was lost: {type(error).__name__}") from error
        logger.info(
            "payment provider answered HTTP %d",
            response.status,
            extra={
                "provider_path": path.partition("?")[0],
                "idempotency_key": key,
                "provider_request_id": response.headers.get("Request-Id"),
                "replayed": response.headers.get("Idempotent-Replayed") == "true",
            },
        )
        return response


def _charge_form(request: ChargeRequest) -> str:
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
    body = _json_object(response.data)
    charge_id = body.get("id")
    if body.get("status") == "succeeded" and isinstance(charge_id, str) and charge_id:
        return Charge(charge_id=charge_id)
    raise PaymentRequestRejected(
        response.status, "unexpected_charge", _text(body.get("status")), response.headers.get("Request-Id")
    )


def _provider_charge(item: dict[str, Any]) -> ProviderCharge:
    return ProviderCharge(
        charge_id=str(item.get("id", "")),
        amount=_integer(item.get("amount")),
        currency=str(item.get("currency", "")).upper(),
        status=str(item.get("status", "")),
        amount_refunded=_integer(item.get("amount_refunded")),
    )


def _refund_from(response: urllib3.BaseHTTPResponse, charge_id: str) -> Refund:
    body = _json_object(response.data)
    refund_id = _text(body.get("id"))
    if refund_id is None or body.get("status") not in ("succeeded", "pending"):
        raise RefundNotConfirmed(f"refund of {charge_id}: unexpected refund {_text(body.get('status'))}")
    return Refund(
        refund_id=refund_id,
        charge_id=charge_id,
        amount=_integer(body.get("amount")),
        currency=str(body.get("currency", "")).upper(),
    )


def _rejected(response: urllib3.BaseHTTPResponse) -> PaymentRequestRejected:
    # The provider's message is left out: for a bad request it may quote the payment token.
    details = _error_of(response)
    return PaymentRequestRejected(
        response.status,
        _text(details.get("type")),
        _text(details.get("code")),
        response.headers.get("Request-Id"),
    )


def _error_of(response: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    error = _json_object(response.data).get("error")
    return error if isinstance(error, dict) else {}


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


def _integer(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
