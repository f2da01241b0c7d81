"""The committed samples are real events: valid against their schema, parsed by their model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonschema import Draft4Validator
from pydantic import Field

from orderflow_devtools.registry.event_types import contract_models
from orderflow_devtools.registry.generation import REPO_ROOT
from orderflow_devtools.registry.samples import SampleError, check_sample, sample_event
from orderflow_devtools.registry.schemas import event_schema
from orderflow_shared.contracts import Contract, Event, OrderCompleted

MODELS = {event_type.schema_name: model for event_type, model in contract_models().items()}
SAMPLES = REPO_ROOT / "shared/contracts/samples"
SCHEMAS = REPO_ROOT / "shared/contracts/schemas"


def committed(folder: Path, name: str) -> Any:
    return json.loads((folder / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_sample_validates_against_its_committed_schema(name: str) -> None:
    errors = Draft4Validator(committed(SCHEMAS, name)).iter_errors(committed(SAMPLES, name))

    assert [error.message for error in errors] == []


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_sample_is_what_its_model_would_put_on_the_wire(name: str) -> None:
    sample = committed(SAMPLES, name)

    parsed = MODELS[name].model_validate(sample["detail"])

    assert parsed.to_wire() == sample["detail"]
    assert (sample["source"], sample["detail-type"]) == (MODELS[name].SOURCE, MODELS[name].DETAIL_TYPE)


def test_samples_tell_one_orders_story() -> None:
    order_ids = {committed(SAMPLES, name)["detail"]["metadata"]["orderId"] for name in MODELS}
    event_ids = {committed(SAMPLES, name)["detail"]["metadata"]["eventId"] for name in MODELS}

    assert len(order_ids) == 1
    assert len(event_ids) == len(MODELS)


def test_a_sample_that_breaks_its_schema_is_refused_naming_the_field() -> None:
    schema = event_schema(OrderCompleted)
    event = sample_event(OrderCompleted, schema)
    del event["detail"]["data"]["invoiceUrl"]

    with pytest.raises(
        SampleError, match=r"OrderCompleted sample breaks its schema: \$\.detail\.data: 'invoiceUrl'"
    ):
        check_sample(OrderCompleted, schema, event)


def test_a_constrained_field_without_an_example_asks_for_one() -> None:
    class WarehouseData(Contract):
        bin_code: str = Field(pattern=r"^[A-Z]\d{3}$")

    class WarehouseMoved(Event):
        """A probe with a pattern no sample value is known for."""

        SOURCE: ClassVar[str] = "orderflow.tests"
        DETAIL_TYPE: ClassVar[str] = "WarehouseMoved"
        data: WarehouseData

    with pytest.raises(SampleError, match=r"detail\.data\.binCode: .*give the field examples=\[\.\.\.\]"):
        sample_event(WarehouseMoved, event_schema(WarehouseMoved))
