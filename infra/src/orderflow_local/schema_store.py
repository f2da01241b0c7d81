"""The local schema registry: the registries and schemas the templates declare, kept in memory.

moto has no Schemas API and its CloudFormation silently skips AWS::EventSchemas resources, so
the provisioner records them here and the local gateway serves them read-only (`schemas_api.py`).
Like a fresh CloudFormation deployment, every schema has exactly one version, "1".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orderflow_local.settings import ACCOUNT_ID, REGION

# The EventBridge Schema Registry's content types; both are JSON documents.
SCHEMA_TYPES = frozenset({"OpenApi3", "JSONSchemaDraft4"})
FIRST_VERSION = "1"


class SchemaStoreError(ValueError):
    """A registry or schema the Schemas API itself would refuse to create."""


@dataclass(frozen=True)
class Registry:
    name: str
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:schemas:{REGION}:{ACCOUNT_ID}:registry/{self.name}"


@dataclass(frozen=True)
class SchemaVersion:
    version: str
    schema_type: str
    content: str
    created: datetime


@dataclass(frozen=True)
class Schema:
    registry_name: str
    name: str
    versions: tuple[SchemaVersion, ...]
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:schemas:{REGION}:{ACCOUNT_ID}:schema/{self.registry_name}/{self.name}"

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[-1]

    def version(self, version: str) -> SchemaVersion | None:
        return next((v for v in self.versions if v.version == version), None)


class SchemaStore:
    """Written while stacks deploy, read by the gateway's threads: every access holds the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registries: dict[str, Registry] = {}
        self._schemas: dict[str, dict[str, Schema]] = {}

    def create_registry(
        self, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Registry:
        with self._lock:
            if name in self._registries:
                raise SchemaStoreError(f"registry {name!r} already exists")
            registry = Registry(name, description, dict(tags or {}))
            self._registries[name] = registry
            self._schemas[name] = {}
            return registry

    def create_schema(
        self,
        registry_name: str,
        name: str,
        schema_type: str,
        content: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Schema:
        if schema_type not in SCHEMA_TYPES:
            raise SchemaStoreError(f"schema {name!r}: Type must be one of {sorted(SCHEMA_TYPES)}")
        try:
            json.loads(content)
        except json.JSONDecodeError as error:
            raise SchemaStoreError(f"schema {name!r}: Content is not a JSON document: {error}") from error
        with self._lock:
            schemas = self._schemas.get(registry_name)
            if schemas is None:
                raise SchemaStoreError(f"schema {name!r}: registry {registry_name!r} does not exist")
            if name in schemas:
                raise SchemaStoreError(f"schema {name!r} already exists in registry {registry_name!r}")
            version = SchemaVersion(FIRST_VERSION, schema_type, content, datetime.now(UTC))
            schema = Schema(registry_name, name, (version,), description, dict(tags or {}))
            schemas[name] = schema
            return schema

    def registries(self) -> list[Registry]:
        with self._lock:
            return sorted(self._registries.values(), key=lambda r: r.name)

    def registry(self, name: str) -> Registry | None:
        with self._lock:
            return self._registries.get(name)

    def schemas(self, registry_name: str) -> list[Schema] | None:
        """The registry's schemas by name, or None when there is no such registry."""
        with self._lock:
            schemas = self._schemas.get(registry_name)
            return None if schemas is None else sorted(schemas.values(), key=lambda s: s.name)

    def schema(self, registry_name: str, name: str) -> Schema | None:
        with self._lock:
            return self._schemas.get(registry_name, {}).get(name)
