"""The schema registry in infra/template.yaml: the block between the generated-schemas markers.

Only that block is rewritten; the rest of the template is hand-written and left as it is. Each
schema's Content is its JSON in one line (a YAML literal block needs no escaping), the same
document as shared/contracts/schemas/<name>.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from orderflow_devtools.registry.event_types import REGISTRY_NAME
from orderflow_devtools.registry.schemas import JsonObject

BEGIN = "  # BEGIN GENERATED SCHEMAS (python -m orderflow_devtools.registry generate)"
END = "  # END GENERATED SCHEMAS"
REGISTRY_LOGICAL_ID = "SchemaRegistry"
DESCRIPTION_LIMIT = 256  # AWS::EventSchemas::Schema Description


def logical_id(schema_name: str) -> str:
    """``orderflow.orders@OrderReceived-v1`` -> ``SchemaOrderflowOrdersOrderReceivedV1``."""
    return "Schema" + "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", schema_name))


def schemas_block(schemas: Mapping[str, JsonObject]) -> str:
    """The generated block, markers included, for ``schemas`` (schema name -> schema)."""
    lines = [
        BEGIN,
        f"  {REGISTRY_LOGICAL_ID}:",
        "    Type: AWS::EventSchemas::Registry",
        "    Properties:",
        f"      RegistryName: {REGISTRY_NAME}",
        "      Description: orderflow's event contracts, one schema per event type and major version "
        "(docs/events.md)",
    ]
    for name, schema in schemas.items():
        lines += [
            "",
            f"  {logical_id(name)}:",
            "    Type: AWS::EventSchemas::Schema",
            "    Properties:",
            f"      RegistryName: !GetAtt {REGISTRY_LOGICAL_ID}.RegistryName",
            f"      SchemaName: {name}",
            "      Type: JSONSchemaDraft4",
            f"      Description: {json.dumps(_description(schema))}",
            "      Content: |-",
            f"        {json.dumps(schema, sort_keys=True, separators=(',', ':'))}",
        ]
    return "\n".join([*lines, END])


def with_schemas_block(template: str, block: str) -> str:
    """``template`` with the text between (and including) the markers replaced by ``block``."""
    lines = template.split("\n")
    if lines.count(BEGIN) != 1 or lines.count(END) != 1 or lines.index(BEGIN) > lines.index(END):
        markers = f"one line {BEGIN.strip()!r}, then one {END.strip()!r}"
        raise ValueError(f"the template needs {markers}, inside Resources")
    return "\n".join([*lines[: lines.index(BEGIN)], block, *lines[lines.index(END) + 1 :]])


def _description(schema: JsonObject) -> str:
    description = str(schema.get("description", ""))
    if len(description) <= DESCRIPTION_LIMIT:
        return description
    return description[: DESCRIPTION_LIMIT - 1].rsplit(" ", 1)[0] + "…"
