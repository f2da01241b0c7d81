"""The answers of the public APIs as the OpenAPI document declares them (Powertools' ``responses=``).

Powertools documents a 422 on every route, but with FastAPI's error schema (a ``msg`` it never
sends, no ``statusCode``); ``api_responses`` declares the bodies it really answers instead: its
validation errors and the ``{"statusCode", "message"}`` of every ServiceError.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from orderflow_shared.api.parameters import NotNullable
from orderflow_shared.api.resolver import JSON_MEDIA_TYPE


class _Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _drop_null_default(schema: dict[str, Any]) -> None:
    # Absent rather than null: a default of null would contradict the field's type.
    schema.pop("default", None)


class ErrorMessage(_Answer):
    """A refusal in Powertools' ServiceError shape (NotFoundError, BadRequestError, ...), or the
    gateway's own for a path no route serves, which has the message alone."""

    status_code: Annotated[int | None, NotNullable()] = Field(
        default=None,
        description="The HTTP status code, repeated; absent when no handler was reached",
        json_schema_extra=_drop_null_default,
    )
    message: str


class ValidationIssue(_Answer):
    loc: list[str | int] = Field(description='Where: "body", "path", "header" or "query", then the field')
    type: str = Field(description="pydantic's error type, e.g. missing, string_pattern_mismatch")


class ValidationErrors(_Answer):
    """Powertools' answer to a request that fails validation (its messages are withheld)."""

    status_code: int = Field(description="The HTTP status code, repeated")
    detail: list[ValidationIssue]


def header(description: str, pattern: str, required: bool = True) -> dict[str, Any]:
    """A response header declaration: a string matching ``pattern``."""
    return {
        "description": description,
        "required": required,
        "schema": {"type": "string", "pattern": pattern},
    }


def json_answer(
    model: Any, description: str, headers: Mapping[str, dict[str, Any]] | None = None
) -> OpenAPIResponse:
    """A JSON response whose body is ``model`` (a pydantic model, or a union of them)."""
    answer = OpenAPIResponse(description=description, content={JSON_MEDIA_TYPE: {"model": model}})
    if headers:
        # OpenAPIResponseHeader lacks `required`, which Powertools' document model keeps.
        answer["headers"] = cast(dict[str, OpenAPIResponseHeader], dict(headers))
    return answer


def redirect(description: str, headers: Mapping[str, dict[str, Any]]) -> OpenAPIResponse:
    """A response without a body (a redirect: its ``Location`` among ``headers``).

    Its content is declared empty: left out, Powertools would document the route's return type as a
    JSON body, and a client would expect one.
    """
    return OpenAPIResponse(
        description=description,
        headers=cast(dict[str, OpenAPIResponseHeader], dict(headers)),
        content={},
    )


def error(description: str, headers: Mapping[str, dict[str, Any]] | None = None) -> OpenAPIResponse:
    return json_answer(ErrorMessage, description, headers)


def api_responses(
    answers: Mapping[int, OpenAPIResponse], *, takes_body: bool = False, refusal_422: str | None = None
) -> dict[int, OpenAPIResponse]:
    """A route's ``responses=``: its own ``answers``, plus Powertools' validation errors as sent.

    Every route is behind the user pool authorizer, which answers 401 (``{"message": "Unauthorized"}``)
    to a request without a valid token before the function runs.
    ``takes_body``: the route reads a JSON body, so a body of another media type is refused with 415.
    ``refusal_422``: the route also answers 422 itself (an ErrorMessage), for this reason.
    """
    invalid: Any = ValidationErrors if refusal_422 is None else ValidationErrors | ErrorMessage
    described = "The request does not match this document" + (f", or {refusal_422}" if refusal_422 else "")
    responses = dict(answers)
    responses.setdefault(
        HTTPStatus.UNAUTHORIZED.value,
        error("No valid bearer token of the user pool (answered by the gateway)"),
    )
    responses[HTTPStatus.UNPROCESSABLE_ENTITY.value] = json_answer(invalid, described)
    if takes_body:
        responses[HTTPStatus.UNSUPPORTED_MEDIA_TYPE.value] = json_answer(
            ValidationErrors, "The body is not application/json"
        )
    return dict(sorted(responses.items()))
