from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orderflow_devtools.compatibility import (
    DEFAULT_CURRENT,
    DEFAULT_RELEASED,
    BreakingChange,
    ChangeKind,
    breaking_changes,
    check_release,
    main,
)

Schema = dict[str, Any]

RELEASED_NAME = "orderflow.orders@OrderReceived-v1.json"
BUMPED_NAME = "orderflow.orders@OrderReceived-v2.json"


def event_schema(detail: Schema, definitions: Schema) -> Schema:
    """A draft-4 schema of a whole EventBridge event whose ``detail`` is ``detail``."""
    envelope = ("version", "id", "detail-type", "source", "account", "time", "region")
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {
            **{name: {"type": "string"} for name in envelope},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": detail,
        },
        "required": [*envelope, "resources", "detail"],
        "definitions": definitions,
    }


def order_schema() -> Schema:
    return event_schema(
        {"$ref": "#/definitions/OrderReceived"},
        {
            "OrderReceived": {
                "type": "object",
                "properties": {
                    "metadata": {"$ref": "#/definitions/EventMetadata"},
                    "data": {"$ref": "#/definitions/OrderReceivedData"},
                },
                "required": ["metadata", "data"],
            },
            "EventMetadata": {
                "type": "object",
                "properties": {"orderId": {"type": "string", "minLength": 1}, "version": {"type": "string"}},
                "required": ["orderId", "version"],
            },
            "OrderReceivedData": {
                "type": "object",
                "properties": {
                    "customerId": {"type": "string"},
                    "items": {"type": "array", "items": {"$ref": "#/definitions/OrderItem"}, "minItems": 1},
                    "channel": {"$ref": "#/definitions/Channel"},
                    "note": {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]},
                },
                "required": ["customerId", "items", "channel"],
            },
            "OrderItem": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Z0-9-]+$"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                "required": ["sku", "quantity"],
            },
            "Channel": {"type": "string", "enum": ["WEB", "PHONE"]},
        },
    )


def changed(mutate: Callable[[Schema], None]) -> Schema:
    schema = order_schema()
    mutate(schema)
    return schema


def data_model(schema: Schema) -> Schema:
    model: Schema = schema["definitions"]["OrderReceivedData"]
    return model


def data_field(schema: Schema, name: str) -> Schema:
    field: Schema = data_model(schema)["properties"][name]
    return field


def item_field(schema: Schema, name: str) -> Schema:
    field: Schema = schema["definitions"]["OrderItem"]["properties"][name]
    return field


def without_customer_id(schema: Schema) -> None:
    data_model(schema)["properties"].pop("customerId")
    data_model(schema)["required"].remove("customerId")


def kinds_and_paths(changes: list[BreakingChange]) -> list[tuple[ChangeKind, str]]:
    return [(change.kind, change.path) for change in changes]


# --- the rules -------------------------------------------------------------------------------------


def test_an_unchanged_schema_has_no_breaking_change() -> None:
    assert breaking_changes(order_schema(), order_schema()) == []


def test_a_removed_field_is_reported_with_its_path() -> None:
    new = changed(without_customer_id)

    assert kinds_and_paths(breaking_changes(order_schema(), new)) == [
        (ChangeKind.REMOVED, "detail.data.customerId")
    ]


def test_a_removed_optional_field_is_breaking_too() -> None:
    new = changed(lambda s: data_model(s)["properties"].pop("note"))

    assert kinds_and_paths(breaking_changes(order_schema(), new)) == [
        (ChangeKind.REMOVED, "detail.data.note")
    ]


def test_a_field_removed_inside_a_referenced_definition_is_found_with_its_full_path() -> None:
    new = changed(lambda s: s["definitions"]["OrderItem"]["properties"].pop("sku"))

    assert kinds_and_paths(breaking_changes(order_schema(), new)) == [
        (ChangeKind.REMOVED, "detail.data.items[].sku")
    ]


def test_a_retyped_field_is_reported_once_with_both_types() -> None:
    new = changed(lambda s: item_field(s, "quantity").update(type="string"))

    changes = breaking_changes(order_schema(), new)

    assert kinds_and_paths(changes) == [(ChangeKind.RETYPED, "detail.data.items[].quantity")]
    assert changes[0].message == "type changed from integer to string"


@pytest.mark.parametrize(
    ("old_note", "new_note"),
    [
        pytest.param({"type": "string"}, {"type": ["string", "null"]}, id="made nullable"),
        pytest.param({"type": ["string", "null"]}, {"type": "string"}, id="made non-nullable"),
        pytest.param({"type": "integer"}, {"type": "number"}, id="integer to number"),
        pytest.param({"type": "object"}, {"type": "array"}, id="object to array"),
    ],
)
def test_any_change_of_the_set_of_types_is_a_retyping(old_note: Schema, new_note: Schema) -> None:
    old = changed(lambda s: data_model(s)["properties"].update(note=old_note))
    new = changed(lambda s: data_model(s)["properties"].update(note=new_note))

    assert kinds_and_paths(breaking_changes(old, new)) == [(ChangeKind.RETYPED, "detail.data.note")]


def test_a_new_required_field_is_breaking() -> None:
    def add_required_currency(schema: Schema) -> None:
        model = data_model(schema)
        model["properties"]["currency"] = {"type": "string"}
        model["required"].append("currency")

    changes = breaking_changes(order_schema(), changed(add_required_currency))

    assert kinds_and_paths(changes) == [(ChangeKind.NEW_REQUIRED, "detail.data.currency")]
    assert "new required field" in changes[0].message


def test_an_optional_field_becoming_required_is_breaking() -> None:
    new = changed(lambda s: data_model(s)["required"].append("note"))

    changes = breaking_changes(order_schema(), new)

    assert kinds_and_paths(changes) == [(ChangeKind.NEW_REQUIRED, "detail.data.note")]
    assert "became required" in changes[0].message


def test_a_required_field_becoming_optional_is_breaking() -> None:
    new = changed(lambda s: data_model(s)["required"].remove("customerId"))

    assert kinds_and_paths(breaking_changes(order_schema(), new)) == [
        (ChangeKind.NO_LONGER_REQUIRED, "detail.data.customerId")
    ]


def test_a_narrowed_enum_names_the_values_it_lost() -> None:
    new = changed(lambda s: s["definitions"]["Channel"].update(enum=["WEB"]))

    changes = breaking_changes(order_schema(), new)

    assert kinds_and_paths(changes) == [(ChangeKind.ENUM_NARROWED, "detail.data.channel")]
    assert changes[0].message == "enum values removed: ['PHONE']"


def test_an_enum_put_on_a_free_field_narrows_it() -> None:
    new = changed(lambda s: data_field(s, "customerId").update(enum=["c-1"]))

    assert kinds_and_paths(breaking_changes(order_schema(), new)) == [
        (ChangeKind.ENUM_NARROWED, "detail.data.customerId")
    ]


@pytest.mark.parametrize(
    ("mutate", "path", "described"),
    [
        pytest.param(
            lambda s: data_field(s, "note")["anyOf"][0].update(maxLength=100),
            "detail.data.note",
            "maxLength 200 -> 100",
            id="shorter maxLength inside an Optional",
        ),
        pytest.param(
            lambda s: item_field(s, "quantity").update(maximum=10),
            "detail.data.items[].quantity",
            "maximum <= 1000 -> <= 10",
            id="lower maximum",
        ),
        pytest.param(
            lambda s: item_field(s, "quantity").update(exclusiveMinimum=True),
            "detail.data.items[].quantity",
            "minimum >= 1 -> > 1",
            id="draft-4 exclusive minimum",
        ),
        pytest.param(
            lambda s: item_field(s, "sku").update(pattern="^[A-Z]+$"),
            "detail.data.items[].sku",
            "pattern '^[A-Z0-9-]+$' -> '^[A-Z]+$'",
            id="changed pattern",
        ),
        pytest.param(
            lambda s: data_field(s, "customerId").update(format="email"),
            "detail.data.customerId",
            "format 'none' -> 'email'",
            id="added format",
        ),
        pytest.param(
            lambda s: data_field(s, "items").update(minItems=2),
            "detail.data.items",
            "minItems 1 -> 2",
            id="higher minItems",
        ),
        pytest.param(
            lambda s: data_model(s).update(additionalProperties=False),
            "detail.data",
            "additional properties no longer allowed",
            id="closed object",
        ),
    ],
)
def test_a_tightened_constraint_is_breaking(
    mutate: Callable[[Schema], None], path: str, described: str
) -> None:
    changes = breaking_changes(order_schema(), changed(mutate))

    assert kinds_and_paths(changes) == [(ChangeKind.CONSTRAINT_TIGHTENED, path)]
    assert changes[0].message == f"constraint tightened: {described}"


def _inline_order_item(schema: Schema) -> None:
    data_field(schema, "items")["items"] = copy.deepcopy(schema["definitions"].pop("OrderItem"))


def _spell_optional_as_a_type_list(schema: Schema) -> None:
    data_model(schema)["properties"]["note"] = {"type": ["string", "null"], "maxLength": 200}


def _rename_data_definition(schema: Schema) -> None:
    schema["definitions"]["OrderData"] = schema["definitions"].pop("OrderReceivedData")
    schema["definitions"]["OrderReceived"]["properties"]["data"] = {"$ref": "#/definitions/OrderData"}


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(
            lambda s: data_model(s)["properties"].update(coupon={"type": "string"}), id="new optional"
        ),
        pytest.param(lambda s: s["definitions"]["Channel"]["enum"].append("APP"), id="widened enum"),
        pytest.param(
            lambda s: data_field(s, "note")["anyOf"][0].update(maxLength=500), id="longer maxLength"
        ),
        pytest.param(lambda s: item_field(s, "sku").pop("pattern"), id="dropped pattern"),
        pytest.param(lambda s: item_field(s, "quantity").update(maximum=5000), id="higher maximum"),
        pytest.param(lambda s: data_field(s, "items").pop("minItems"), id="dropped minItems"),
        pytest.param(lambda s: s["definitions"].update(Unused={"type": "integer"}), id="new definition"),
        pytest.param(_spell_optional_as_a_type_list, id="Optional spelled as a type list"),
        pytest.param(_inline_order_item, id="definition inlined"),
        pytest.param(_rename_data_definition, id="definition renamed"),
    ],
)
def test_additive_and_cosmetic_changes_pass(mutate: Callable[[Schema], None]) -> None:
    assert breaking_changes(order_schema(), changed(mutate)) == []


def test_a_field_removed_inside_one_variant_of_a_union_is_found() -> None:
    def with_payment(schema: Schema) -> None:
        schema["definitions"]["Card"] = {"type": "object", "properties": {"last4": {"type": "string"}}}
        schema["definitions"]["Voucher"] = {"type": "object", "properties": {"code": {"type": "string"}}}
        data_model(schema)["properties"]["payment"] = {
            "oneOf": [{"$ref": "#/definitions/Card"}, {"$ref": "#/definitions/Voucher"}]
        }

    old = changed(with_payment)
    new = copy.deepcopy(old)
    new["definitions"]["Voucher"]["properties"].pop("code")
    dropped_variant = copy.deepcopy(old)
    data_field(dropped_variant, "payment")["oneOf"].pop()

    assert kinds_and_paths(breaking_changes(old, new)) == [(ChangeKind.REMOVED, "detail.data.payment.code")]
    assert kinds_and_paths(breaking_changes(old, dropped_variant)) == [
        (ChangeKind.RETYPED, "detail.data.payment")
    ]


def test_a_recursive_definition_is_compared_without_looping() -> None:
    def with_category(schema: Schema) -> None:
        schema["definitions"]["Category"] = {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Category"}},
            },
        }
        data_model(schema)["properties"]["category"] = {"$ref": "#/definitions/Category"}

    old = changed(with_category)
    new = copy.deepcopy(old)
    new["definitions"]["Category"]["properties"].pop("name")

    assert breaking_changes(old, old) == []
    assert kinds_and_paths(breaking_changes(old, new)) == [(ChangeKind.REMOVED, "detail.data.category.name")]


def test_a_dangling_ref_is_an_error_not_a_silent_pass() -> None:
    broken = changed(lambda s: s["definitions"].pop("OrderItem"))

    with pytest.raises(ValueError, match="OrderItem"):
        breaking_changes(order_schema(), broken)


# --- the release check -----------------------------------------------------------------------------


def write(directory: Path, name: str, schema: Schema) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(schema))


@pytest.fixture
def released(tmp_path: Path) -> Path:
    released_dir = tmp_path / "released"
    write(released_dir, RELEASED_NAME, order_schema())
    return released_dir


@pytest.fixture
def current(tmp_path: Path) -> Path:
    return tmp_path / "schemas"


WITHOUT_CUSTOMER = changed(without_customer_id)


def test_a_release_compatible_with_the_last_one_passes(released: Path, current: Path) -> None:
    write(current, RELEASED_NAME, changed(lambda s: data_model(s)["properties"].update(coupon={})))
    write(current, "orderflow.orders@OrderShipped-v1.json", order_schema())

    assert check_release(released, current) == []


def test_a_removed_field_without_a_major_bump_fails_naming_event_field_and_fix(
    released: Path, current: Path
) -> None:
    write(current, RELEASED_NAME, WITHOUT_CUSTOMER)

    assert check_release(released, current) == [
        "orderflow.orders/OrderReceived v1: detail.data.customerId: removed (consumers reading it break). "
        "Fix: bump VERSION of orderflow_shared.contracts.orders.OrderReceived to 2 "
        "(publish the new major alongside) or make the change additive."
    ]


def test_the_same_change_in_a_new_major_published_alongside_passes(released: Path, current: Path) -> None:
    write(current, RELEASED_NAME, order_schema())
    write(current, BUMPED_NAME, WITHOUT_CUSTOMER)

    assert check_release(released, current) == []


def test_a_released_major_that_is_no_longer_generated_fails(released: Path, current: Path) -> None:
    write(current, BUMPED_NAME, WITHOUT_CUSTOMER)

    problems = check_release(released, current)

    assert len(problems) == 1
    assert problems[0].startswith(
        f"orderflow.orders/OrderReceived v1: the released schema {RELEASED_NAME} is no longer generated"
    )


def test_the_committed_schemas_are_compatible_with_the_last_release() -> None:
    assert any(DEFAULT_RELEASED.glob("*.json")), f"no release in {DEFAULT_RELEASED}"
    assert any(DEFAULT_CURRENT.glob("*.json")), f"no generated schemas in {DEFAULT_CURRENT}"

    assert check_release(DEFAULT_RELEASED, DEFAULT_CURRENT) == []


# --- the command -----------------------------------------------------------------------------------


def run(released: Path, current: Path, *options: str) -> int:
    return main(["--released", str(released), "--current", str(current), *options])


def test_the_command_exits_1_with_the_messages_on_a_breaking_change(
    released: Path, current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(current, RELEASED_NAME, WITHOUT_CUSTOMER)

    assert run(released, current) == 1
    assert "detail.data.customerId: removed" in capsys.readouterr().err


def test_the_command_exits_0_when_compatible(released: Path, current: Path) -> None:
    write(current, RELEASED_NAME, order_schema())

    assert run(released, current) == 0


def test_the_command_has_nothing_to_compare_before_the_first_release(tmp_path: Path, current: Path) -> None:
    write(current, RELEASED_NAME, WITHOUT_CUSTOMER)

    assert run(tmp_path / "no-release", current) == 0
    assert run(tmp_path / "no-release", tmp_path / "no-schemas") == 0


def test_a_release_copies_the_current_schemas_and_becomes_the_baseline(released: Path, current: Path) -> None:
    write(current, RELEASED_NAME, order_schema())
    write(current, BUMPED_NAME, WITHOUT_CUSTOMER)

    assert run(released, current, "--release") == 0
    assert json.loads((released / BUMPED_NAME).read_text()) == WITHOUT_CUSTOMER

    narrowed_after_release = copy.deepcopy(WITHOUT_CUSTOMER)
    narrowed_after_release["definitions"]["Channel"]["enum"] = ["WEB"]
    write(current, BUMPED_NAME, narrowed_after_release)
    assert run(released, current) == 1


def test_a_release_refuses_to_bless_a_breaking_change(released: Path, current: Path) -> None:
    write(current, RELEASED_NAME, WITHOUT_CUSTOMER)

    assert run(released, current, "--release") == 1
    assert json.loads((released / RELEASED_NAME).read_text()) == order_schema()
