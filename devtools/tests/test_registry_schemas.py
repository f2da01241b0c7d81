"""The registry schemas: draft 4 only, every reference resolvable, the model's rules kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from jsonschema import Draft4Validator
from pydantic import Field

from orderflow_devtools.registry.event_types import contract_models
from orderflow_devtools.registry.generation import REPO_ROOT
from orderflow_devtools.registry.schemas import (
    POST_DRAFT_4_KEYWORDS,
    JsonObject,
    event_schema,
    resolve,
    to_draft4,
    walk_schemas,
)
from orderflow_shared.contracts import Contract, Event
from orderflow_shared.contracts.values import Customer

COMMITTED_SCHEMAS = sorted((REPO_ROOT / "shared/contracts/schemas").glob("*.json"))


class ProbeData(Contract):
    kind: Literal["PROBE"]
    count: int = Field(gt=0)
    customer: Customer | None = None
    note: str | None = Field(default=None, max_length=10)


class ProbeEvent(Event):
    """A model using what pydantic writes in 2020-12 terms: a literal, an exclusive bound, optionals."""

    SOURCE: ClassVar[str] = "orderflow.tests"
    DETAIL_TYPE: ClassVar[str] = "Probe"
    data: ProbeData


def later_keywords(schema: JsonObject) -> list[str]:
    found: list[str] = []
    walk_schemas(schema, lambda sub, at: found.extend(f"{at}/{k}" for k in sub if k in POST_DRAFT_4_KEYWORDS))
    return found


def unresolvable_refs(schema: JsonObject) -> list[str]:
    broken: list[str] = []

    def visit(sub: JsonObject, at: str) -> None:
        if "$ref" in sub:
            try:
                resolve(sub, schema)
            except ValueError:
                broken.append(f"{at}: {sub['$ref']}")

    walk_schemas(schema, visit)
    return broken


def test_every_event_type_has_a_committed_schema() -> None:
    assert {path.stem for path in COMMITTED_SCHEMAS} == {
        event_type.schema_name for event_type in contract_models()
    }


@pytest.mark.parametrize("path", COMMITTED_SCHEMAS, ids=lambda path: path.stem)
def test_committed_schemas_are_draft_4_with_every_ref_resolvable(path: Path) -> None:
    schema = json.loads(path.read_text())

    Draft4Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert later_keywords(schema) == []
    assert unresolvable_refs(schema) == []
    assert f"{schema['x-amazon-events-source']}@{schema['x-amazon-events-detail-type']}-v1" == path.stem


def test_pydantic_2020_constructs_become_their_draft_4_spelling() -> None:
    schema = event_schema(ProbeEvent)
    data = resolve(schema["properties"]["detail"]["properties"]["data"], schema)["properties"]

    assert later_keywords(schema) == []
    assert unresolvable_refs(schema) == []
    assert data["kind"]["enum"] == ["PROBE"]
    assert (data["count"]["minimum"], data["count"]["exclusiveMinimum"]) == (0, True)
    assert data["customer"]["anyOf"] == [{"$ref": "#/definitions/Customer"}, {"type": "null"}]
    assert data["note"]["type"] == ["string", "null"]


@pytest.mark.parametrize(
    ("count", "note", "valid"),
    [(1, None, True), (1, "short", True), (0, None, False), (1, "far too long", False)],
)
def test_converted_schema_still_enforces_the_models_rules(count: int, note: str | None, valid: bool) -> None:
    schema = event_schema(ProbeEvent)
    detail = {
        "metadata": {
            "eventId": "e-1",
            "orderId": "o-1",
            "occurredAt": "2026-05-14T09:30:00Z",
            "version": "1",
        },
        "data": {"kind": "PROBE", "count": count, "note": note},
    }

    assert (
        Draft4Validator(schema["properties"]["detail"] | {"definitions": schema["definitions"]}).is_valid(
            detail
        )
        is valid
    )


def test_ref_with_sibling_keywords_keeps_them_through_an_all_of() -> None:
    converted = to_draft4(
        {
            "$defs": {"A": {"type": "string"}},
            "properties": {"a": {"$ref": "#/$defs/A", "description": "kept"}},
        }
    )

    assert converted["properties"]["a"] == {"allOf": [{"$ref": "#/definitions/A"}], "description": "kept"}
    assert converted["definitions"] == {"A": {"type": "string"}}


def test_a_keyword_draft_4_cannot_express_fails_naming_where_it_is() -> None:
    with pytest.raises(ValueError, match=r"#/properties/pair/prefixItems: 'prefixItems'"):
        to_draft4({"properties": {"pair": {"type": "array", "prefixItems": [{"type": "string"}]}}})


def test_event_schema_describes_the_whole_eventbridge_event() -> None:
    schema = event_schema(ProbeEvent)

    assert schema["x-amazon-events-source"] == "orderflow.tests"
    assert schema["x-amazon-events-detail-type"] == "Probe"
    assert schema["x-orderflow-major-version"] == 1
    assert schema["properties"]["detail-type"]["enum"] == ["Probe"]
    assert schema["properties"]["source"]["enum"] == ["orderflow.tests"]
    assert set(schema["required"]) == {
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"
    }  # fmt: skip


def test_a_model_without_docstring_cannot_be_published() -> None:
    class Undocumented(Event):
        SOURCE: ClassVar[str] = "orderflow.tests"
        DETAIL_TYPE: ClassVar[str] = "Undocumented"
        data: ProbeData

    with pytest.raises(ValueError, match="Undocumented has no docstring"):
        event_schema(Undocumented)


def test_a_schema_accepts_only_its_own_major_version() -> None:
    contracts = REPO_ROOT / "shared" / "contracts"
    schema = json.loads((contracts / "schemas" / "orderflow.orders@OrderReceived-v1.json").read_text())
    sample = json.loads((contracts / "samples" / "orderflow.orders@OrderReceived-v1.json").read_text())
    Draft4Validator(schema).validate(sample)
    other_major = json.loads(json.dumps(sample))
    other_major["detail"]["metadata"]["version"] = "2"
    assert not Draft4Validator(schema).is_valid(other_major)
