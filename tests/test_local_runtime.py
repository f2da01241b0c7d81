"""The local stack runs what the templates deploy, and loses nothing."""

from __future__ import annotations

from tests.support.local_stack import REPO_ROOT, LocalStack, http

ASL = REPO_ROOT / "services" / "orders" / "statemachine" / "order_saga.asl.json"


def test_health_reports_every_stack_and_consumer(stack: LocalStack) -> None:
    response = http("GET", f"{stack.api_url}/health")
    assert response.status == 200
    health = response.json()
    assert health["stacks"] == sorted(
        [
            "orderflow-infra",
            "orderflow-orders",
            "orderflow-inventory",
            "orderflow-payments",
            "orderflow-invoicing",
            "orderflow-notifications",
        ]
    )
    assert health["consumers"] >= 7
    assert health["notPolling"] == []


def test_the_running_state_machine_is_the_asl_file_after_substitution(stack: LocalStack) -> None:
    sfn = stack.client("stepfunctions")
    (machine,) = sfn.list_state_machines()["stateMachines"]
    definition = sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"]
    buses = {"${EventBusName}": "orderflow", "${CommandsBusName}": "orderflow-commands"}
    expected = ASL.read_text()
    for placeholder, bus in buses.items():
        expected = expected.replace(placeholder, bus)
    assert definition == expected
    assert definition.encode() == expected.encode()


def test_every_subscription_is_a_rule_to_a_queue_with_a_dead_letter_queue(stack: LocalStack) -> None:
    events, sqs = stack.client("events"), stack.client("sqs")
    # The archive's own rule (managed by EventBridge, targeting the archive) is not a subscription.
    rules = [
        (bus, r)
        for bus in ("orderflow", "orderflow-commands")
        for r in events.list_rules(EventBusName=bus)["Rules"]
        if r.get("ManagedBy") != "prod.vhs.events.aws.internal"
        and not r["Name"].startswith("Events-Archive-")
    ]
    assert {bus for bus, _ in rules} == {"orderflow", "orderflow-commands"}
    for bus, rule in rules:
        targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        assert targets, rule["Name"]
        for target in targets:
            assert ":sqs:" in target["Arn"], rule["Name"]
            url = sqs.get_queue_url(QueueName=target["Arn"].rsplit(":", 1)[1])["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])[
                "Attributes"
            ]
            assert "deadLetterTargetArn" in attributes.get("RedrivePolicy", ""), rule["Name"]
