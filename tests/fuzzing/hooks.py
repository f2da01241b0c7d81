"""Loaded by schemathesis in the fuzz run (tests/fuzzing/schemathesis.toml): who the caller is, and the
failures it excuses.

The run calls as one signed-in user (an operator, who may use every operation), named by
ORDERFLOW_FUZZ_USERNAME and ORDERFLOW_FUZZ_EMAIL. An order body may name its customer, but only as
the caller: a generated `customer` block is rewritten to the caller's before the request, so schema-
valid orders are placed (a block naming someone else is refused 403, tested end to end).

The failures excused are "valid data rejected" failures, only where the data was not valid in the
first place or the refusal is one the document declares for what came before the request: a reused
Idempotency-Key (422 with a message, not a validation error) or a stale If-Match (412); and an order's
invoice "not found" right after the order was placed, when the answer says it is not invoiced yet
(the invoice exists once the saga invoices the order: tests/test_invoice_access.py). Anything else
still fails the run.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from schemathesis.openapi.checks import EnsureResourceAvailability, RejectedPositiveData


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if isinstance(failure, EnsureResourceAvailability):
        return not _not_invoiced_yet(case, response)
    if not isinstance(failure, RejectedPositiveData):
        return True
    if _has_negative_part(case):
        return False
    sent = {name.lower() for name in case.headers or {}}
    if response.status_code == 412 and "if-match" in sent:
        return False
    return not (response.status_code == 422 and "idempotency-key" in sent and _reused_key_refusal(response))


def _not_invoiced_yet(case: Any, response: Any) -> bool:
    return (
        case.path == "/orders/{order_id}/invoice"
        and response.status_code == 404
        and "has no invoice yet" in response.text
    )


def _has_negative_part(case: Any) -> bool:
    # schemathesis 4.32's coverage phase may label a case positive as a whole while one of its parts
    # (a header, say) was generated invalid on purpose.
    components = case.meta.components if case.meta is not None else {}
    return any(component.mode.is_negative for component in components.values())


def _reused_key_refusal(response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "detail" not in body and "Idempotency-Key" in str(body.get("message"))


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if (case.method.upper(), case.path) != ("POST", "/orders") or not isinstance(case.body, dict):
        return
    customer = case.body.get("customer")
    if isinstance(customer, dict):
        customer.update(id=os.environ["ORDERFLOW_FUZZ_USERNAME"], email=os.environ["ORDERFLOW_FUZZ_EMAIL"])
