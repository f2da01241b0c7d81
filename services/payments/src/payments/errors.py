"""How a payment can fail, split by who can fix it.

The TaskFailure errors are answers to the workflow (their names are what the order saga's Retry and
Catch match on). A rejected request is neither: it means our request or credentials are wrong, so
it is a fault, reported to the workflow as ServiceFault. A charge whose key is in use elsewhere is
not an answer at all: the command is left for SQS to redeliver. Refund errors are faults of the
delivery that refunds: its message comes back, and the payment stays due for the reconciler.
"""

from __future__ import annotations

from orderflow_shared.task_token import TaskFailure


class PaymentDeclined(TaskFailure):
    """The provider refused the charge (e.g. the card was declined): final, not worth retrying."""

    error = "PaymentDeclined"


class PaymentProviderUnavailable(TaskFailure):
    """The provider could not answer (5xx, rate limit, timeout, no connection): the workflow retries."""

    error = "PaymentProviderUnavailable"


class ChargeOutcomeUnknown(PaymentProviderUnavailable):
    """The provider may have charged (a 5xx after it began, a dropped connection, a read timeout) and
    no charge for the order was found. Same answer to the workflow, whose retry uses the same key;
    the ledger remembers that the outcome is unknown, for the reconciler.
    """


class PaymentCancelled(TaskFailure):
    """The order already failed (its payment is fenced): nothing may be charged for it.

    Not one of the saga's typed payment errors on purpose: its catch-all ends the order as FAILED.
    """

    error = "PaymentCancelled"


class PaymentCommandRefused(TaskFailure):
    """The command cannot be trusted: its amount or currency disagrees with the total inventory sealed
    for the order, or that seal or its payment token was not sealed for this order. Nothing is charged.

    Not one of the saga's typed payment errors on purpose: its catch-all ends the order as FAILED.
    """

    error = "PaymentCommandRefused"


class ChargeInProgress(RuntimeError):
    """Another delivery holds the order's charge key (the provider answered 409).

    Not an answer: this delivery answers nothing and lets SQS bring the command back, by when the
    other delivery has answered (the redelivery then finds the task closed).
    """


class RefundNotConfirmed(RuntimeError):
    """The provider did not confirm a refund (no answer, 409, 429, 5xx): retried with the same key."""


class ChargeAlreadyRefunded(RuntimeError):
    """Nothing is left to refund on the charge: someone refunded it without our key."""


class PaymentRequestRejected(RuntimeError):
    """The provider rejected the request itself (bad parameters, bad API key).

    Our fault, not the customer's: an operator must fix the configuration or the code.
    """

    def __init__(
        self, status: int, error_type: str | None, error_code: str | None, request_id: str | None
    ) -> None:
        super().__init__(
            f"payment provider rejected the request: HTTP {status}"
            f" type={error_type} code={error_code} request_id={request_id}"
        )
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.request_id = request_id
