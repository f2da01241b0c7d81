"""Catalogue-wide contract checks: every consumed event type has exactly one producer, and nothing
is published that the contracts and the catalogue do not document."""

from __future__ import annotations

import pytest

from orderflow_devtools.registry.catalogue import catalogue_problems
from orderflow_devtools.registry.contract_runs import Catalogue
from orderflow_devtools.registry.generation import command_types, event_contracts

pytestmark = pytest.mark.contract

CATALOGUE = Catalogue.load()


def test_every_consumed_event_type_has_exactly_one_producer_and_every_published_one_is_documented() -> None:
    commands = command_types(event_contracts())
    assert catalogue_problems(CATALOGUE.services, list(CATALOGUE.schemas), commands) == []


def test_every_event_type_has_a_committed_schema_and_sample() -> None:
    published = {event_type for service in CATALOGUE.services for event_type in service.publishes}

    assert published <= CATALOGUE.schemas.keys()
    assert published <= CATALOGUE.samples.keys()
