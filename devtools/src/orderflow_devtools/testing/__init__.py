"""Test support for every service: real Lambda events, a fake AWS environment for moto, stand-ins
for the workflow's task-token API and the bus, and the conventions every template keeps.

Plain classes and functions, so each service's conftest wraps them in its own fixtures and this
package depends on no test framework. The template checks live in
``orderflow_devtools.testing.template`` (they need cfn_flip, a test-only dependency).
"""

from orderflow_devtools.testing.bus import PublishedEvents
from orderflow_devtools.testing.environment import (
    BUS_NAME,
    COMMANDS_BUS_NAME,
    forget_cached_clients,
    mocked_aws,
    use_fake_aws,
)
from orderflow_devtools.testing.events import (
    ACCOUNT,
    REGION,
    FakeLambdaContext,
    api_event,
    aws_event,
    customer_claims,
    eventbridge_event,
    id_token_claims,
    operator_claims,
    scheduled_event,
    sqs_event,
    sqs_record,
)
from orderflow_devtools.testing.metrics import emitted_metric
from orderflow_devtools.testing.workflow import WorkflowAnswers

__all__ = [
    "ACCOUNT",
    "BUS_NAME",
    "COMMANDS_BUS_NAME",
    "REGION",
    "FakeLambdaContext",
    "PublishedEvents",
    "WorkflowAnswers",
    "api_event",
    "aws_event",
    "customer_claims",
    "emitted_metric",
    "eventbridge_event",
    "forget_cached_clients",
    "id_token_claims",
    "mocked_aws",
    "operator_claims",
    "scheduled_event",
    "sqs_event",
    "sqs_record",
    "use_fake_aws",
]
