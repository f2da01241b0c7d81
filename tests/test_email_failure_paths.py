"""G4 end to end: one email per order and category, even when notifications dies right after SES sent it.

The crash leaves Powertools' idempotency record of the send in progress until the dead
invocation's deadline (the function's 30 s Timeout, in real seconds locally), longer than the
step's retries last at the tests' time scale. Each retry meets that record and looks the email up
in the sent-emails table, which SES's own "Email Sent" event filled meanwhile, and answers with
that message id instead of sending again.
"""

from __future__ import annotations

from tests.support.scenario import Scenario


def test_a_crash_right_after_ses_sent_the_confirmation_sends_no_second_email(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "crash-after-confirmation-sent",
            "point": "after:ses.SendEmail",
            "action": "crash",
            "function": "SendConfirmationFunction",
            "match": scenario.customer_id,
            "times": 1,
        }
    )
    scenario.place("tok_visa")

    order = scenario.terminal()

    assert scenario.fired("crash-after-confirmation-sent") == 1
    assert order["status"] == "COMPLETED"
    scenario.guarantees_hold()  # G4: one invoice and exactly one confirmation email
