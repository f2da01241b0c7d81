"""The contract tests every consuming service runs unchanged, as pytest test functions.

A service's ``tests/contract/`` module binds them to module-level ``test_*`` names; what needs the
service's own moto stack (running its handlers, capturing what it publishes) stays in that module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow_devtools.registry.contract_suite import ServiceContract, generated_events
from orderflow_devtools.registry.event_types import EventType

# Small on purpose: the whole contracts run stays within seconds per service.
GENERATED_EVENTS_PER_TYPE = 25


def consumer_tests(contract: ServiceContract) -> tuple[Callable[..., Any], ...]:
    def test_every_rule_matches_the_events_its_producers_publish() -> None:
        _assert_none(contract.rule_problems())

    def test_every_rule_delivers_exactly_what_its_handler_routes() -> None:
        _assert_none(contract.routing_problems())

    @pytest.mark.parametrize("event_type", contract.consumed, ids=str)
    @settings(
        max_examples=GENERATED_EVENTS_PER_TYPE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(data=st.data())
    def test_handlers_parse_and_rules_match_every_event_the_producers_schema_allows(
        event_type: EventType, data: st.DataObject
    ) -> None:
        event = data.draw(generated_events(contract.catalogue.schemas[event_type]), label=str(event_type))

        _assert_none(
            contract.parse_problems(event_type, event) + contract.rule_problems({event_type: [event]})
        )

    return (
        test_every_rule_matches_the_events_its_producers_publish,
        test_every_rule_delivers_exactly_what_its_handler_routes,
        test_handlers_parse_and_rules_match_every_event_the_producers_schema_allows,
    )


def _assert_none(problems: list[str]) -> None:
    # This module is not rewritten by pytest's assertion rewriting: the message must say it all.
    assert not problems, "\n".join(problems)
