"""json_api_resolver: request bodies held exactly to the route's model, and the answers as documented."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from orderflow_devtools.testing import FakeLambdaContext, api_event
from orderflow_shared.api.parameters import NotNullable
from orderflow_shared.api.resolver import json_api_resolver
from orderflow_shared.api.responses import ErrorMessage, ValidationErrors, api_responses, error, json_answer


class Delivery(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    item_count: int
    note: str


VALID = {"itemCount": 2, "note": "dock 4"}


def deliveries_app(app: APIGatewayRestResolver) -> tuple[APIGatewayRestResolver, list[Delivery]]:
    received: list[Delivery] = []

    @app.post("/deliveries", responses=api_responses({201: json_answer(Delivery, "Taken")}, takes_body=True))
    def take(delivery: Annotated[Delivery, Body()]) -> tuple[dict[str, Any], int]:
        received.append(delivery)
        return delivery.model_dump(by_alias=True), 201

    @app.get("/deliveries/<number>", responses=api_responses({404: error("No such delivery")}))
    def find(
        number: str, key: Annotated[str | None, NotNullable(), Header(alias="X-Key", min_length=1)] = None
    ) -> dict[str, Any]:
        raise NotFoundError(f"no delivery {number}")

    return app, received


def post(app: APIGatewayRestResolver, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = app.resolve(
        api_event("POST", "/deliveries", "/deliveries", body, headers), FakeLambdaContext()
    )
    return response["statusCode"], json.loads(response["body"])


def test_plain_powertools_takes_an_array_holding_one_body_as_that_body() -> None:
    # The gap JsonObjectBodies closes: when this fails, Powertools no longer unwraps the array.
    app, received = deliveries_app(APIGatewayRestResolver(enable_validation=True))

    assert post(app, [VALID])[0] == 201
    assert received == [Delivery.model_validate(VALID)]


@pytest.mark.parametrize("body", [[VALID], [VALID, VALID], [], '"dock 4"', "2", "null", "true"], ids=str)
def test_a_body_that_is_not_one_json_object_is_refused_and_the_route_never_runs(body: Any) -> None:
    app, received = deliveries_app(json_api_resolver())

    status, answer = post(app, body)

    assert status == 422
    ValidationErrors.model_validate(answer)
    assert answer["detail"][0]["loc"] == ["body"]
    assert received == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"itemCount": "2", "note": "x"}, {"loc": ["body", "itemCount"], "type": "int_type"}),
        ({"itemCount": True, "note": "x"}, {"loc": ["body", "itemCount"], "type": "int_type"}),
        ({"item_count": 2, "note": "x"}, {"loc": ["body", "itemCount"], "type": "missing"}),
        ({"itemCount": 1.5, "note": "x"}, {"loc": ["body", "itemCount"], "type": "int_from_float"}),
    ],
    ids=["number-as-text", "boolean", "python-name", "fraction"],
)
def test_a_body_the_document_does_not_describe_is_refused(
    body: dict[str, Any], problem: dict[str, Any]
) -> None:
    app, received = deliveries_app(json_api_resolver())

    status, answer = post(app, body)

    assert status == 422
    assert problem in answer["detail"]
    assert received == []


def test_a_number_with_zero_fraction_is_an_integer_as_json_schema_says() -> None:
    app, received = deliveries_app(json_api_resolver())

    assert post(app, '{"itemCount": 2.0, "note": "dock 4"}') == (201, VALID)
    assert received == [Delivery.model_validate(VALID)]


@pytest.mark.parametrize(
    "media_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_body_of_another_media_type_is_refused_with_415(media_type: str) -> None:
    app, received = deliveries_app(json_api_resolver())

    status, answer = post(app, VALID, {"Content-Type": media_type})

    assert status == 415
    assert answer == {"statusCode": 415, "detail": [{"loc": ["body"], "type": "unsupported_content_type"}]}
    assert received == []


def test_json_with_a_charset_is_json() -> None:
    app, _ = deliveries_app(json_api_resolver())

    assert post(app, VALID, {"Content-Type": "application/json; charset=utf-8"})[0] == 201


@pytest.mark.parametrize(
    ("body", "base64_encoded"), [("{not json", False), (base64.b64encode(b"\xff\xfe").decode(), True)]
)
def test_a_body_that_is_not_json_text_is_422(body: str, base64_encoded: bool) -> None:
    app, received = deliveries_app(json_api_resolver())
    event = api_event("POST", "/deliveries", "/deliveries", body)
    event["isBase64Encoded"] = base64_encoded

    response = app.resolve(event, FakeLambdaContext())

    assert response["statusCode"] == 422
    assert json.loads(response["body"])["detail"][0]["type"] == "json_invalid"
    assert received == []


def test_a_valid_body_reaches_the_route() -> None:
    app, received = deliveries_app(json_api_resolver())

    assert post(app, VALID) == (201, VALID)
    assert received == [Delivery.model_validate(VALID)]


def test_refusals_have_the_shapes_the_document_declares() -> None:
    app, _ = deliveries_app(json_api_resolver())
    missing = app.resolve(api_event("GET", "/deliveries/7", "/deliveries/{number}"), FakeLambdaContext())
    invalid = app.resolve(
        api_event("GET", "/deliveries/7", "/deliveries/{number}", headers={"X-Key": ""}), FakeLambdaContext()
    )

    assert missing["statusCode"] == 404
    ErrorMessage.model_validate_json(missing["body"])
    assert invalid["statusCode"] == 422
    ValidationErrors.model_validate_json(invalid["body"])


def test_the_document_declares_those_shapes_and_no_null_header() -> None:
    app, _ = deliveries_app(json_api_resolver())
    document = app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True, mode="json")
    take = document["paths"]["/deliveries"]["post"]["responses"]
    find = document["paths"]["/deliveries/{number}"]["get"]

    assert sorted(take) == ["201", "401", "415", "422"]
    assert take["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationErrors"
    }
    assert sorted(find["responses"]) == ["401", "404", "422"]
    (header,) = [p for p in find["parameters"] if p["in"] == "header"]
    assert header["schema"]["type"] == "string"
    assert "anyOf" not in header["schema"]


def test_a_route_that_also_refuses_with_422_declares_both_shapes() -> None:
    answers = api_responses({}, refusal_422="the key was used before")

    assert answers[422]["description"].endswith("or the key was used before")
    assert answers[422]["content"]["application/json"] == {"model": ValidationErrors | ErrorMessage}
