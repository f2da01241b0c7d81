"""GET and PUT /inventory/{sku}: read a SKU's stock and price, or set them (an operator call)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from inventory.handlers.wiring import TELEMETRY, store
from inventory.stock import StockLevel
from orderflow_shared.contracts.values import CurrencyCode, MinorUnits, Sku

logger, tracer = TELEMETRY.logger, TELEMETRY.tracer

app = APIGatewayRestResolver(enable_validation=True)


class _ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class StockUpdate(_ApiModel):
    # An operator's typo must not pass as a valid request that silently ignores the field.
    model_config = ConfigDict(extra="forbid")

    available: int = Field(ge=0, description="Sellable units; units held by reservations are not included")
    unit_price: MinorUnits
    currency: CurrencyCode


class StockView(_ApiModel):
    sku: Sku
    available: int
    reserved: int
    unit_price: MinorUnits
    currency: CurrencyCode

    @classmethod
    def of(cls, level: StockLevel) -> StockView:
        return cls(
            sku=level.sku,
            available=level.available,
            reserved=level.reserved,
            unit_price=level.unit_price,
            currency=level.currency,
        )


@app.get("/inventory/<sku>")
def get_stock(sku: Annotated[Sku, Path()]) -> dict[str, Any]:
    level = store().stock_level(sku)
    if level is None:
        raise NotFoundError(f"SKU {sku} is not in the catalogue")
    return StockView.of(level).model_dump(by_alias=True)


@app.put("/inventory/<sku>")
def put_stock(sku: Annotated[Sku, Path()], update: Annotated[StockUpdate, Body()]) -> dict[str, Any]:
    level = store().set_stock(sku, update.available, update.unit_price, update.currency)
    logger.info("stock set", extra={"sku": sku, "available": level.available, "unit_price": level.unit_price})
    return StockView.of(level).model_dump(by_alias=True)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
