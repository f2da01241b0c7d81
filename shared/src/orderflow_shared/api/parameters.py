"""How the public APIs declare their optional parameters in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class NotNullable:
    """Marks an optional parameter (``Annotated[str | None, NotNullable(), Header(...)]``) as omitted
    when absent, never null: its schema is its non-null type alone.

    A header or query parameter is text or missing; documented as ``anyOf: [string, null]`` (what
    pydantic makes of ``str | None``), a client or a fuzzer may send the text "null" believing it valid.
    """

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        variants = [variant for variant in schema.get("anyOf", []) if variant != {"type": "null"}]
        if "anyOf" in schema and len(variants) == 1:
            schema = {name: value for name, value in schema.items() if name != "anyOf"} | variants[0]
        return schema
