"""The inventory API: any signed-in caller reads a SKU's books; operators set its stock and price
and adjust its stock (others are refused 403).

Every answer about an existing SKU carries its version as an ETag. PUT honours If-Match, so a
write computed from an older read is refused (412) instead of overwriting what changed since;
adjustments are relative and apply once per Idempotency-Key.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from inventory.books import IdempotencyKeyReusedError, NegativeStockError, UnknownSkuError
from inventory.etag import ETAG_PATTERN, IF_MATCH_PATTERN, etag, parse_if_match
from inventory.handlers.wiring import TELEMETRY, stock_keeping
from inventory.stock import StockLevel
from inventory.stock_keeping import PreconditionFailedError, StockChangeContentionError
from orderflow_shared.api.caller import SIGNED_IN, caller_from
from orderflow_shared.api.parameters import NotNullable
from orderflow_shared.api.resolver import json_api_resolver
from orderflow_shared.api.responses import api_responses, error, header, json_answer
from orderflow_shared.contracts.values import CurrencyCode, MinorUnits, Sku
from orderflow_shared.entry_points import api_handler

logger = TELEMETRY.logger

app = json_api_resolver()

SkuPath = Annotated[Sku, Path()]
# The pattern is documented, not validated here: parse_if_match refuses a malformed header with 400.
IfMatchHeader = Annotated[
    str | None,
    NotNullable(),
    Header(
        alias="If-Match",
        min_length=1,
        max_length=1024,
        description='"*" or entity tags from ETag, e.g. "7"; a stale one is refused with 412',
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
    ),
]
IdempotencyKey = Annotated[
    str | None, NotNullable(), Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


# A character outside Unicode's White_Space, the set pydantic strips (not str.isspace(), which adds
# U+001C..U+001F). Spelled out so that every regex engine (Rust, Python, ECMA) reads it alike.
NOT_ONLY_WHITESPACE = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class _ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class StockUpdate(_ApiModel):
    # An operator's typo must not pass as a valid request that silently ignores the field.
    model_config = ConfigDict(extra="forbid")

    available: int = Field(ge=0, description="Sellable units; units held by reservations are not included")
    unit_price: MinorUnits
    currency: CurrencyCode


class StockAdjustment(_ApiModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: JSON true must not pass as one unit. The document also states the validator's "never 0".
    delta: int = Field(
        strict=True,
        description="Units to add to available (negative: to remove); never 0",
        json_schema_extra={"not": {"const": 0}},
    )
    # Stripped before its length is checked, so it must hold a character that stripping keeps.
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_ONLY_WHITESPACE),
    ]

    @field_validator("delta")
    @classmethod
    def _changes_stock(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("delta must not be 0")
        return delta


class StockView(_ApiModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    available: int
    reserved: int
    sold: int
    stocked: int = Field(description="Units ever put on the books: available + reserved + sold")
    unit_price: MinorUnits
    currency: CurrencyCode

    @classmethod
    def of(cls, level: StockLevel) -> StockView:
        return cls(
            sku=level.sku,
            available=level.available,
            reserved=level.reserved,
            sold=level.sold,
            stocked=level.on_books,
            unit_price=level.unit_price,
            currency=level.currency,
        )


ETAG = {"ETag": header("The SKU's version, for If-Match", ETAG_PATTERN)}
# On a refusal the SKU may not exist, and then has no version.
CURRENT_ETAG = {"ETag": header("The SKU's current version, if it exists", ETAG_PATTERN, required=False)}
CONTENTION = error("The SKU kept changing under concurrent writes; retry")


@app.get(
    "/inventory/<sku>",
    operation_id="getStock",
    summary="A SKU's stock, price and version",
    tags=["inventory"],
    security=SIGNED_IN,
    responses=api_responses(
        {200: json_answer(StockView, "The SKU's books", ETAG), 404: error("The SKU is not in the catalogue")}
    ),
)
def get_stock(sku: SkuPath) -> Response[dict[str, Any]]:
    caller_from(app.current_event)  # any signed-in caller may read stock and prices
    level = stock_keeping().level(sku)
    if level is None:
        raise NotFoundError(f"SKU {sku} is not in the catalogue")
    return _stock_answer(level)


@app.put(
    "/inventory/<sku>",
    operation_id="putStock",
    summary="Set a SKU's available stock and price (creating it if new)",
    tags=["inventory"],
    security=SIGNED_IN,
    responses=api_responses(
        {
            200: json_answer(StockView, "The SKU's books after the change", ETAG),
            400: error("If-Match is malformed"),
            403: error("The caller is not an operator"),
            # Powertools routes only paths whose parameters hold URL-safe characters.
            404: error("The path names no SKU: it holds characters no SKU has"),
            412: error("If-Match names no current version of the SKU", CURRENT_ETAG),
            503: CONTENTION,
        },
        takes_body=True,
    ),
)
def put_stock(
    sku: SkuPath, update: Annotated[StockUpdate, Body()], if_match: IfMatchHeader = None
) -> Response[dict[str, Any]]:
    caller_from(app.current_event).require_operator("set stock and prices")
    try:
        precondition = None if if_match is None else parse_if_match(if_match)
    except ValueError as error:
        raise BadRequestError(str(error)) from error
    try:
        level = stock_keeping().set_stock(
            sku, update.available, update.unit_price, update.currency, precondition
        )
    except PreconditionFailedError as stale:
        return _error_answer(
            HTTPStatus.PRECONDITION_FAILED, f"SKU {sku} changed since the version in If-Match", stale.current
        )
    except StockChangeContentionError as error:
        raise ServiceError(HTTPStatus.SERVICE_UNAVAILABLE, "the SKU kept changing; retry") from error
    logger.info("stock set", extra={"sku": sku, "available": level.available, "unit_price": level.unit_price})
    return _stock_answer(level)


@app.post(
    "/inventory/<sku>/adjustments",
    operation_id="adjustStock",
    summary="Add units to or remove units from a SKU's available stock, once per Idempotency-Key",
    tags=["inventory"],
    security=SIGNED_IN,
    responses=api_responses(
        {
            200: json_answer(StockView, "The SKU's books after the adjustment", ETAG),
            403: error("The caller is not an operator"),
            404: error("The SKU is not in the catalogue"),
            409: error("The adjustment would take available below zero", CURRENT_ETAG),
            503: CONTENTION,
        },
        takes_body=True,
        refusal_422="the Idempotency-Key was already used for a different adjustment",
    ),
)
def adjust_stock(
    sku: SkuPath, adjustment: Annotated[StockAdjustment, Body()], idempotency_key: IdempotencyKey = None
) -> Response[dict[str, Any]]:
    caller_from(app.current_event).require_operator("adjust stock")
    try:
        level = stock_keeping().adjust(sku, adjustment.delta, adjustment.reason, idempotency_key)
    except UnknownSkuError as error:
        raise NotFoundError(str(error)) from error
    except NegativeStockError as short:
        return _error_answer(HTTPStatus.CONFLICT, str(short), short.current)
    except IdempotencyKeyReusedError as error:
        raise ServiceError(HTTPStatus.UNPROCESSABLE_ENTITY, str(error)) from error
    except StockChangeContentionError as error:
        raise ServiceError(HTTPStatus.SERVICE_UNAVAILABLE, "the SKU kept changing; retry") from error
    logger.info("stock adjusted", extra={"sku": sku, "delta": adjustment.delta, "available": level.available})
    return _stock_answer(level)


def _stock_answer(level: StockLevel) -> Response[dict[str, Any]]:
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=StockView.of(level).model_dump(by_alias=True),
        headers={"ETag": etag(level.version)},
    )


def _error_answer(status: HTTPStatus, message: str, current: StockLevel | None) -> Response[dict[str, Any]]:
    """An error in Powertools' JSON shape, with the SKU's current ETag so the client can re-read."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"statusCode": status.value, "message": message},
        headers={"ETag": etag(current.version)} if current is not None else {},
    )


handler = api_handler(TELEMETRY, app)
