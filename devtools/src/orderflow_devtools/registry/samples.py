"""A sample event per event type, built from its registry schema and checked against it and its model.

The samples tell one order's story (same order id, customer and amounts throughout), so values come
first from ``_STORY`` by field name, then from a field's examples, then from the schema itself
(enum, format, bounds). A constrained string with none of those is an error asking for an example,
rather than a sample that would not validate. Everything is fixed, so regeneration is byte-identical.
"""

from __future__ import annotations

import uuid
from typing import Any

from jsonschema import Draft4Validator
from pydantic import ValidationError

from orderflow_devtools.registry.event_types import EventType
from orderflow_devtools.registry.schemas import EXAMPLES, JsonObject, resolve
from orderflow_shared.contracts import Event

SAMPLE_ACCOUNT = "123456789012"
SAMPLE_REGION = "us-east-1"
SAMPLE_TIME = "2026-05-14T09:30:00Z"
SAMPLE_ORDER_ID = "3f2a9c1b-5d4e-4f60-8a7b-9c0d1e2f3a4b"
_IDS = uuid.UUID("6d0b8f0e-2b7a-4c55-9a43-0f6a2a3c5e71")  # namespace of the samples' fixed ids

# One line of two keyboards at 49.99 USD: every amount of the story agrees with the others.
_STORY: JsonObject = {
    "orderId": SAMPLE_ORDER_ID,
    "occurredAt": SAMPLE_TIME,
    "customerId": "c-1",
    "id": "c-1",
    "email": "ana@example.com",
    "quantity": 2,
    "unitPrice": 4999,
    "lineTotal": 9998,
    "totalAmount": 9998,
    "amount": 9998,
    # Sealed by the orders API for payments (orderflow_shared.payment_tokens); this one opens nowhere.
    "paymentToken": "AQICAHhZm9yLXBheW1lbnRzLW9ubHkAexampleSealedPaymentToken==",
    # Sealed by inventory for payments (orderflow_shared.priced_reservations); this one opens nowhere.
    "pricedReservation": "AgC4AQIDAHhZm9yLXBheW1lbnRzLW9ubHkAexampleSealedPricedTotal==",
    "paymentId": "ch_3f2a9c1b",
    "invoiceNumber": "INV-20260514-3F2A9C1B",
    # The orders API's invoice route (a redirect to a short-lived download): orderflow_shared.invoices.
    "invoiceUrl": f"https://api.orderflow.example/orders/{SAMPLE_ORDER_ID}/invoice",
    "messageId": "0100019a-3f2a-9c1b-example-000000",
    "taskToken": "AQCEAAAAKgAAAAMAAAAAAAAAAexampleTaskToken",
    "name": "Ana Silva",
    "line1": "Rua Augusta 100",
    "line2": "3rd floor",
    "city": "Lisbon",
    "postalCode": "1100-053",
    "country": "PT",
    "error": "OutOfStock",
    "reason": "Not enough stock for the order",
}
_STORY_BY_DETAIL_TYPE: dict[str, JsonObject] = {
    "OrderPaymentFailed": {"error": "PaymentDeclined", "reason": "The card was declined"},
}


class SampleError(ValueError):
    """No valid sample can be built for an event type, or the one built is not valid."""


def sample_event(model: type[Event], schema: JsonObject) -> JsonObject:
    """A sample EventBridge event of ``model``'s type, valid against ``schema`` and the model."""
    event_type = EventType.of(model)
    story = {**_STORY, **_STORY_BY_DETAIL_TYPE.get(event_type.detail_type, {})}
    story["eventId"] = _fixed_id(event_type, "metadata.eventId")
    story["version"] = str(event_type.version)  # detail.metadata.version: the major version
    detail = _Builder(schema, story).value(schema["properties"]["detail"], "detail")
    event = {
        "version": "0",
        "id": _fixed_id(event_type, "id"),
        "detail-type": event_type.detail_type,
        "source": event_type.source,
        "account": SAMPLE_ACCOUNT,
        "time": SAMPLE_TIME,
        "region": SAMPLE_REGION,
        "resources": [],
        "detail": detail,
    }
    check_sample(model, schema, event)
    return event


def check_sample(model: type[Event], schema: JsonObject, event: JsonObject) -> None:
    """Raises SampleError unless ``event`` is valid against ``schema`` and its detail parses as ``model``."""
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(event), key=lambda error: error.json_path)
    if errors:
        reasons = "; ".join(f"{error.json_path}: {error.message}" for error in errors)
        raise SampleError(f"{model.__name__} sample breaks its schema: {reasons}")
    try:
        model.model_validate(event["detail"])
    except ValidationError as error:
        raise SampleError(f"{model.__name__} sample does not parse with the model: {error}") from error


def _fixed_id(event_type: EventType, field: str) -> str:
    return str(uuid.uuid5(_IDS, f"{event_type.schema_name}/{field}"))


class _Builder:
    def __init__(self, root: JsonObject, story: JsonObject) -> None:
        self._root = root
        self._story = story

    def value(self, schema: JsonObject, path: str, name: str = "") -> Any:
        schema = resolve(schema, self._root)
        if name in self._story:
            return self._story[name]
        if schema.get(EXAMPLES):
            return schema[EXAMPLES][0]
        if schema.get("enum"):
            return schema["enum"][0]
        for branch in schema.get("anyOf", ()):
            if branch != {"type": "null"}:
                return self.value(branch, path, name)
        types = schema.get("type", "object")
        kind = next(t for t in types if t != "null") if isinstance(types, list) else types
        if kind == "object":
            properties = schema.get("properties", {})
            return {key: self.value(sub, f"{path}.{key}", key) for key, sub in properties.items()}
        if kind == "array":
            item = self.value(schema.get("items", {}), f"{path}[]")
            return [item] * max(1, schema.get("minItems", 1))
        if kind in ("integer", "number"):
            low = schema.get("minimum", 1)
            return low + 1 if schema.get("exclusiveMinimum") is True else low
        if kind == "boolean":
            return True
        return self._string(schema, path, name)

    def _string(self, schema: JsonObject, path: str, name: str) -> str:
        by_format = {"date-time": SAMPLE_TIME, "email": "ana@example.com", "uri": "https://example.com/"}
        if schema.get("format") in by_format:
            return by_format[schema["format"]]
        if "pattern" in schema:
            pattern = schema["pattern"]
            raise SampleError(f"{path}: no sample value matches {pattern!r}; give the field examples=[...]")
        return f"sample-{name or 'value'}"
