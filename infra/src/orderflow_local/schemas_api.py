"""The EventBridge Schemas API (REST, 2019-12-02), read-only, over the local schema registry.

Mounted on the local gateway at /v1/registries, so any SDK pointed at the API port reads the
schemas the templates declare: `boto3.client("schemas", endpoint_url="http://127.0.0.1:8000")`.
Paths, query parameters and response members follow botocore's service model for `schemas`;
errors are the Schemas API's JSON errors (`Code`, `Message`, and the `x-amzn-ErrorType` header).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import unquote

from orderflow_local.api_gateway import JsonResponse
from orderflow_local.schema_store import Registry, Schema, SchemaStore, SchemaVersion

logger = logging.getLogger(__name__)

PREFIX = "/v1/registries"

_SEGMENT = "([^/]+)"
_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ListRegistries", re.compile(rf"^{PREFIX}/?$")),
    ("DescribeRegistry", re.compile(rf"^{PREFIX}/name/{_SEGMENT}$")),
    ("ListSchemas", re.compile(rf"^{PREFIX}/name/{_SEGMENT}/schemas$")),
    ("DescribeSchema", re.compile(rf"^{PREFIX}/name/{_SEGMENT}/schemas/name/{_SEGMENT}$")),
    ("ListSchemaVersions", re.compile(rf"^{PREFIX}/name/{_SEGMENT}/schemas/name/{_SEGMENT}/versions$")),
)

Item = TypeVar("Item")


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JsonResponse:
        return JsonResponse(
            self.status, {"Code": self.code, "Message": self.message}, {"x-amzn-ErrorType": self.code}
        )


Query = Mapping[str, str]


class SchemasApi:
    def __init__(self, store: SchemaStore) -> None:
        self._store = store
        self._operations: dict[str, Callable[[list[str], Query], dict[str, Any]]] = {
            "ListRegistries": self._list_registries,
            "DescribeRegistry": self._describe_registry,
            "ListSchemas": self._list_schemas,
            "DescribeSchema": self._describe_schema,
            "ListSchemaVersions": self._list_schema_versions,
        }

    def respond(self, method: str, path: str, query: Mapping[str, list[str]]) -> JsonResponse:
        try:
            if method != "GET":
                raise ApiError(
                    HTTPStatus.FORBIDDEN,
                    "ForbiddenException",
                    f"{method} {path}: the local schema registry is read-only; its registries and "
                    "schemas come from the templates' AWS::EventSchemas resources",
                )
            operation, path_parameters = _route(path)
            parameters = {name: values[-1] for name, values in query.items()}
            return JsonResponse(HTTPStatus.OK, self._operations[operation](path_parameters, parameters))
        except ApiError as error:
            return error.response()
        except Exception:
            logger.exception("schemas API: %s %s", method, path)
            return ApiError(
                HTTPStatus.INTERNAL_SERVER_ERROR, "InternalServerErrorException", "Internal server error"
            ).response()

    # --- operations ----------------------------------------------------------------------------

    def _list_registries(self, path: list[str], query: Query) -> dict[str, Any]:
        # The registries AWS provides (aws.events, ...) have no local counterpart.
        registries = [] if query.get("scope") == "AWS" else self._store.registries()
        prefix = query.get("registryNamePrefix", "")
        page, token = _page([r for r in registries if r.name.startswith(prefix)], query)
        return _with_token({"Registries": [_registry_summary(r) for r in page]}, token)

    def _describe_registry(self, path: list[str], query: Query) -> dict[str, Any]:
        registry = self._registry(*path)
        return {**_registry_summary(registry), "Description": registry.description}

    def _list_schemas(self, path: list[str], query: Query) -> dict[str, Any]:
        (registry_name,) = path
        schemas = self._store.schemas(registry_name)
        if schemas is None:
            raise _not_found(f"Registry {registry_name} does not exist.")
        prefix = query.get("schemaNamePrefix", "")
        page, token = _page([s for s in schemas if s.name.startswith(prefix)], query)
        return _with_token({"Schemas": [_schema_summary(s) for s in page]}, token)

    def _describe_schema(self, path: list[str], query: Query) -> dict[str, Any]:
        schema = self._schema(*path)
        requested = query.get("schemaVersion")
        version = schema.version(requested) if requested else schema.latest
        if version is None:
            raise _not_found(f"Schema {schema.name} has no version {requested}.")
        return {
            "Content": version.content,
            "Description": schema.description,
            "LastModified": _timestamp(schema.latest.created),
            "SchemaArn": schema.arn,
            "SchemaName": schema.name,
            "SchemaVersion": version.version,
            "tags": dict(schema.tags),
            "Type": version.schema_type,
            "VersionCreatedDate": _timestamp(version.created),
        }

    def _list_schema_versions(self, path: list[str], query: Query) -> dict[str, Any]:
        schema = self._schema(*path)
        page, token = _page(schema.versions, query)
        return _with_token({"SchemaVersions": [_version_summary(schema, v) for v in page]}, token)

    # --- lookups -------------------------------------------------------------------------------

    def _registry(self, name: str) -> Registry:
        registry = self._store.registry(name)
        if registry is None:
            raise _not_found(f"Registry {name} does not exist.")
        return registry

    def _schema(self, registry_name: str, name: str) -> Schema:
        self._registry(registry_name)
        schema = self._store.schema(registry_name, name)
        if schema is None:
            raise _not_found(f"Schema {name} does not exist.")
        return schema


def _route(path: str) -> tuple[str, list[str]]:
    for operation, pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            return operation, [unquote(segment) for segment in match.groups()]
    raise ApiError(
        HTTPStatus.NOT_IMPLEMENTED,
        "NotImplementedException",
        f"GET {path} is not served by the local schema registry; it serves "
        + ", ".join(operation for operation, _ in _ROUTES),
    )


def _page(items: Sequence[Item], query: Query) -> tuple[Sequence[Item], str | None]:
    """One page of `items` (query `limit`, `nextToken`); the token, opaque to clients, is an offset."""
    try:
        start = int(query.get("nextToken") or 0)
        size = int(query.get("limit") or max(len(items), 1))
    except ValueError as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, "BadRequestException", f"invalid paging: {error}") from error
    if start < 0 or size < 1:
        raise ApiError(HTTPStatus.BAD_REQUEST, "BadRequestException", "limit must be >= 1, nextToken >= 0")
    end = start + size
    return items[start:end], str(end) if end < len(items) else None


def _with_token(document: dict[str, Any], token: str | None) -> dict[str, Any]:
    return {**document, "NextToken": token} if token else document


def _not_found(message: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "NotFoundException", message)


def _registry_summary(registry: Registry) -> dict[str, Any]:
    return {"RegistryArn": registry.arn, "RegistryName": registry.name, "tags": dict(registry.tags)}


def _schema_summary(schema: Schema) -> dict[str, Any]:
    return {
        "LastModified": _timestamp(schema.latest.created),
        "SchemaArn": schema.arn,
        "SchemaName": schema.name,
        "tags": dict(schema.tags),
        "VersionCount": len(schema.versions),
    }


def _version_summary(schema: Schema, version: SchemaVersion) -> dict[str, Any]:
    return {
        "SchemaArn": schema.arn,
        "SchemaName": schema.name,
        "SchemaVersion": version.version,
        "Type": version.schema_type,
    }


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
