"""How a payment can fail, split by who can fix it.

The two TaskFailure errors are answers to the workflow (their names are what the order saga's
Retry and Catch match on). A rejected request is neither: it means our request or credentials are
wrong, so it is raised as a fault, the command is redelivered and, if it keeps failing, lands in the
DLQ for an operator.
"""

from __future__ import annotations

from orderflow_shared.task_token import TaskFailure


class PaymentDeclined(TaskFailure):
    """The provider refused the charge (e.g. the card was declined): final, not worth retrying."""

    error = "PaymentDeclined"


class PaymentProviderUnavailable(TaskFailure):
    """The provider could not answer (5xx, rate limit, timeout, no connection): the workflow retries."""

    error = "PaymentProviderUnavailable"


class PaymentRequestRejected(RuntimeError):
    """The provider rejected the request itself (bad parameters, bad API key).

    Our fault, not the customer's: an operator must fix the configuration or the code.
    """

    def __init__(
        self, status: int, error_type: str | None, error_code: str | None, request_id: str | None
    ) -> None:
        super().__init__(
            f"payment provider rejected the charge request: HTTP {status}"
            f" type={error_type} code={error_code} request_id={request_id}"
        )
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.request_id = request_id
