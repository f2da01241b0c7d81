"""The catalogue: who publishes and who consumes each event type, and the check that it adds up."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderflow_devtools.registry.__main__ import main
from orderflow_devtools.registry.catalogue import (
    COMMANDS_BUS,
    CatalogueError,
    Service,
    Subscription,
    catalogue_problems,
    load_services,
)
from orderflow_devtools.registry.event_types import EventType, contract_models
from orderflow_devtools.registry.generation import REPO_ROOT, command_types, event_contracts

KNOWN = list(contract_models())
ORDER_OUT_OF_STOCK = EventType("orderflow.orders", "OrderOutOfStock", 1)
STOCK_RESERVED = EventType("orderflow.inventory", "StockReserved", 1)
RESERVE_STOCK = EventType("orderflow.orders", "ReserveStock", 1)
COMMANDS = command_types(event_contracts())


def service(name: str, publishes: tuple[EventType, ...] = (), *rules: Subscription) -> Service:
    return Service(name, publishes, rules)


def consistent_services() -> list[Service]:
    """Every known event published once, by a service per source; every command consumed once."""
    by_source: dict[str, list[EventType]] = {}
    for event_type in KNOWN:
        by_source.setdefault(event_type.source.removeprefix("orderflow."), []).append(event_type)
    addressees = [
        service(name := f"owner-of-{command.detail_type}", (), command_rule(name, command))
        for command in COMMANDS
    ]
    return [*(service(name, tuple(published)) for name, published in by_source.items()), *addressees]


def command_rule(service_name: str, command: EventType) -> Subscription:
    return Subscription(service_name, "CommandRule", (command.source,), (command.detail_type,), COMMANDS_BUS)


def test_the_repositorys_services_are_read_from_events_yaml_and_template_rules() -> None:
    services = {found.name: found for found in load_services(REPO_ROOT)}

    assert set(services) == {"orders", "inventory", "payments", "invoicing", "notifications"}
    assert STOCK_RESERVED in services["inventory"].publishes
    assert len(services["orders"].publishes) == 9
    assert (
        Subscription(
            "notifications",
            "CustomerAlertsRule",
            ("orderflow.orders",),
            ("OrderOutOfStock", "OrderPaymentFailed", "OrderFailed"),
        )
        in services["notifications"].subscriptions
    )
    assert services["inventory"].consumes(ORDER_OUT_OF_STOCK)
    assert not services["payments"].consumes(ORDER_OUT_OF_STOCK)  # nothing is charged before stock
    assert catalogue_problems(load_services(REPO_ROOT), KNOWN, COMMANDS) == []
    assert all(
        rule.bus == COMMANDS_BUS
        for found in services.values()
        for rule in found.subscriptions
        if any(rule.matches(command) for command in COMMANDS)
    )


@pytest.mark.parametrize(
    ("event_type", "bus", "travels_on"),
    [(RESERVE_STOCK, "orderflow", "orderflow-commands"), (STOCK_RESERVED, "orderflow-commands", "orderflow")],
    ids=["command on the domain bus", "fact on the commands bus"],
)
def test_a_subscription_on_the_wrong_bus_is_reported(
    event_type: EventType, bus: str, travels_on: str
) -> None:
    # The command's own addressee subscribes, but on the wrong bus.
    name = f"owner-of-{event_type.detail_type}"
    rule = Subscription(name, "Rule", (event_type.source,), (event_type.detail_type,), bus)
    services = [*(s for s in consistent_services() if s.name != name), service(name, (), rule)]

    assert catalogue_problems(services, KNOWN, COMMANDS) == [
        f"{name} (rule Rule) subscribes to {event_type} on the {bus} bus, "
        f"but it travels on the {travels_on} bus"
    ]


def test_a_subscription_to_an_unknown_detail_type_names_consumer_rule_and_event() -> None:
    subscriber = Subscription("notifications", "ShippedRule", ("orderflow.orders",), ("OrderShipped",))
    services = [*consistent_services(), service("notifications", (), subscriber)]

    assert catalogue_problems(services, KNOWN, COMMANDS) == [
        "notifications (rule ShippedRule) consumes OrderShipped from orderflow.orders, but no event type in "
        "orderflow_shared.contracts.ALL_EVENTS has that source and detail-type"
    ]


def test_a_subscription_to_a_source_that_does_not_send_the_detail_type_is_reported() -> None:
    subscriber = Subscription("orders", "StatusRule", ("orderflow.payments",), ("StockReserved",))
    services = [*consistent_services(), service("orders", (), subscriber)]

    assert catalogue_problems(services, KNOWN, COMMANDS) == [
        "orders (rule StatusRule) consumes StockReserved from orderflow.payments, but no event type in "
        "orderflow_shared.contracts.ALL_EVENTS has that source and detail-type"
    ]


def test_an_event_with_two_producers_names_them_and_its_consumers() -> None:
    consumer = Subscription("orders", "StatusRule", ("orderflow.inventory",), ("StockReserved",))
    services = [*consistent_services(), service("payments", (STOCK_RESERVED,), consumer)]

    assert catalogue_problems(services, KNOWN, COMMANDS) == [
        "orderflow.inventory StockReserved v1: 2 producers (inventory, payments); "
        "an event type has exactly one producer",
        "orders (rule StatusRule) consumes orderflow.inventory StockReserved v1, "
        "which has 2 producers (inventory, payments)",
    ]


def test_an_event_nobody_publishes_is_reported() -> None:
    services = [found for found in consistent_services() if found.name != "payments"]

    assert catalogue_problems(services, KNOWN, COMMANDS) == [
        f"orderflow.payments {detail_type} v1: no producer; list it in its service's events.yaml (publishes:)"
        for detail_type in ("PaymentSucceeded", "PaymentRefunded")
    ]


def test_publishing_an_event_type_the_contracts_do_not_define_is_reported() -> None:
    unknown = EventType("orderflow.inventory", "StockReserved", 2)
    services = [*consistent_services(), service("warehouse", (unknown,))]

    assert catalogue_problems(services, KNOWN, COMMANDS) == [
        "warehouse: services/warehouse/events.yaml publishes orderflow.inventory StockReserved v2, "
        "which no model in orderflow_shared.contracts.ALL_EVENTS defines"
    ]


def test_a_rule_without_detail_types_consumes_every_event_of_its_sources() -> None:
    everything = Subscription("audit", "AuditRule", ("orderflow.inventory",), None)

    assert everything.matches(STOCK_RESERVED)
    assert not everything.matches(ORDER_OUT_OF_STOCK)


def test_check_fails_when_a_template_rule_subscribes_to_an_unknown_detail_type(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = repo_copy / "services/notifications/template.yaml"
    template.write_text(
        template.read_text().replace("[OrderOutOfStock, OrderPaymentFailed, OrderFailed]", "[OrderShipped]")
    )

    assert main(["check", "--root", str(repo_copy)]) == 1

    error = capsys.readouterr().err
    assert "the event catalogue does not add up" in error
    assert "notifications (rule CustomerAlertsRule) consumes OrderShipped from orderflow.orders" in error


def test_check_fails_when_two_events_yaml_declare_the_same_event(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = repo_copy / "services/payments/events.yaml"
    events.write_text(events.read_text().replace("source: orderflow.payments", "source: orderflow.orders", 1))
    events.write_text(events.read_text().replace("PaymentSucceeded", "OrderFailed"))

    assert main(["check", "--root", str(repo_copy)]) == 1

    error = capsys.readouterr().err
    assert "orderflow.orders OrderFailed v1: 2 producers (orders, payments)" in error
    assert (
        "orders (rule OrderStatusRule) consumes orderflow.orders OrderFailed v1, which has 2 producers"
        in error
    )


def test_a_service_without_events_yaml_cannot_be_catalogued(repo_copy: Path) -> None:
    (repo_copy / "services/invoicing/events.yaml").unlink()

    with pytest.raises(CatalogueError, match=r"invoicing/events.yaml: missing"):
        load_services(repo_copy)


def test_a_malformed_events_yaml_says_what_shape_is_expected(repo_copy: Path) -> None:
    (repo_copy / "services/invoicing/events.yaml").write_text("publishes: [InvoiceGenerated]\n")

    with pytest.raises(CatalogueError, match=r"expected `source: <source>` and `publishes:` entries"):
        load_services(repo_copy)


def test_a_command_subscribed_by_a_second_service_is_reported() -> None:
    services = [*consistent_services(), service("snoop", (), command_rule("snoop", RESERVE_STOCK))]

    assert catalogue_problems(services, KNOWN, COMMANDS) == [
        f"{RESERVE_STOCK}: consumed by owner-of-ReserveStock, snoop; "
        "a command carries a task token for exactly one service"
    ]
