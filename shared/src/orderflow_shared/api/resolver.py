"""A Powertools REST resolver that holds every JSON body to the model its route declares, exactly.

Powertools validates a body leniently, and (since 3.21) after the normalisation it applies to form
fields and query strings: a list given where the type is not a sequence is replaced by its first
element. A route whose body is one pydantic model sees the whole body as that one field, so a JSON
array holding a valid body (``[{...}]``) passes as if the client had sent the object, and the route
acts on it; lenient validation also takes ``"5"`` or ``true`` for an integer. The OpenAPI document
promises neither.

``JsonObjectBodies`` keeps Powertools' validation (and its 422 answers) and then, before the route
runs, validates the body's JSON text against the route's model in strict mode, by alias only: a
body the document does not describe (an array, a string, ``null``, a number as text, a field under
its Python name) is refused with the same 422, and nothing happens. It also answers 415 to a body
of any media type but JSON (Powertools would parse forms and multipart bodies the routes never
declare) and 422 to one that is not UTF-8 (Powertools lets that escape as the function's failure).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.types import EventHandlerInstance
from pydantic import BaseModel, RootModel, ValidationError

from orderflow_shared.api.caller import security_schemes

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

JSON_MEDIA_TYPE = "application/json"


class JsonApiResolver(APIGatewayRestResolver):
    """An APIGatewayRestResolver whose document declares the user pool's bearer tokens (routes require
    them with SIGNED_IN), unless told other security schemes."""

    def get_openapi_schema(self, **options: Any) -> OpenAPI:
        if not (options.get("security_schemes") or self.openapi_config.security_schemes):
            options["security_schemes"] = security_schemes()
        return super().get_openapi_schema(**options)


def json_api_resolver() -> JsonApiResolver:
    """A JsonApiResolver with validation on, its request bodies checked by JsonObjectBodies."""
    app = JsonApiResolver(enable_validation=True)
    # Request validation is the first middleware of every route, ahead of any added with use(), so
    # the resolver's own instance is replaced. (Powertools leaves the middleware's __init__ untyped.)
    app._request_validation_middleware = JsonObjectBodies()  # type: ignore[no-untyped-call]
    return app


class JsonObjectBodies(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, then the body's JSON held strictly to the route's model."""

    def handler(self, app: EventHandlerInstance, next_middleware: NextMiddleware) -> Response[Any]:
        def strictly_then(app: EventHandlerInstance) -> Response[Any]:
            _validate_strictly(app)
            return next_middleware(app)

        # Lenient validation first, so a client sees Powertools' own errors for what it reports.
        # (NextMiddleware is a protocol no plain function meets: it spells __name__ as a method.)
        response: Response[Any] = super().handler(app, cast(NextMiddleware, strictly_then))
        return response

    def _get_body(self, app: EventHandlerInstance) -> Any:
        media_type = (app.current_event.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if media_type not in ("", JSON_MEDIA_TYPE):
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[_body_error("unsupported_content_type", f"Unsupported content type: {media_type}")],
            )
        try:
            return _parsed(app.current_event.decoded_body)
        except json.JSONDecodeError as error:
            raise RequestValidationError([_body_error("json_invalid", error.msg, error.pos)]) from error
        except (ValueError, RecursionError) as error:
            # Not UTF-8, or nested too deep to parse: Powertools would let this escape as the
            # function's failure.
            raise RequestValidationError([_body_error("json_invalid", str(error))]) from error


def _validate_strictly(app: EventHandlerInstance) -> None:
    model = _body_model(app)
    text = app.current_event.decoded_body
    if model is None or not text:
        return  # no body, or one Powertools has already validated in full
    try:
        model.model_validate_json(json.dumps(_parsed(text)), strict=True, by_alias=True, by_name=False)
    except ValidationError as invalid:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in invalid.errors(include_url=False)]
        ) from invalid


def _parsed(text: str | None) -> Any:
    """The body's JSON, with every number of zero fraction read as an integer: JSON Schema counts 2.0
    as an integer (pydantic's strict mode would not)."""
    return json.loads(text, parse_float=_integral_as_int) if text else None


def _integral_as_int(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


def _body_model(app: EventHandlerInstance) -> type[BaseModel] | None:
    """The route's body model, if its body is one (not embedded) pydantic model: a JSON object."""
    params = app.context["_route"].dependant.body_params
    if len(params) != 1 or getattr(params[0].field_info, "embed", False):
        return None
    annotation = params[0].field_info.annotation
    if (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and not issubclass(annotation, RootModel)
    ):
        return annotation
    return None


def _body_error(kind: str, message: str, *where: int) -> dict[str, Any]:
    # Powertools answers only loc and type, never msg (it may quote the input).
    return {"type": kind, "loc": ("body", *where), "msg": message, "input": {}, "ctx": {}}
