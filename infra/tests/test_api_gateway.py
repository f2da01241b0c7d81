"""The local gateway turns HTTP requests into REST API proxy events and proxy responses back."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orderflow_local.api_gateway import LocalApiGateway, compile_resource

pytestmark = pytest.mark.enable_socket


class EchoFunction:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Single": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps({"echo": event["body"]}),
        }


@pytest.fixture
def gateway() -> Iterator[tuple[LocalApiGateway, EchoFunction]]:
    healthy = {"value": False}
    gateway = LocalApiGateway("127.0.0.1", 0, lambda: (healthy["value"], {"status": "x"}))
    echo = EchoFunction()
    gateway.add_route("POST", "/orders/{orderId}/items", echo)  # type: ignore[arg-type]
    gateway.start()
    yield gateway, echo
    gateway.stop()


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_resource_paths_match_like_api_gateway() -> None:
    pattern = compile_resource("/orders/{orderId}")
    assert pattern.match("/orders/o-1").groupdict() == {"orderId": "o-1"}  # type: ignore[union-attr]
    assert pattern.match("/orders/o-1/x") is None
    assert compile_resource("/files/{proxy+}").match("/files/a/b").groupdict() == {"proxy": "a/b"}  # type: ignore[union-attr]


def test_a_request_becomes_a_proxy_event_and_the_response_comes_back(
    gateway: tuple[LocalApiGateway, EchoFunction],
) -> None:
    server, echo = gateway
    status, headers, body = call(
        f"{server.url}/orders/o-1/items?x=1&x=2",
        "POST",
        b'{"a": 1}',
        {"Content-Type": "application/json", "Idempotency-Key": "k"},
    )
    assert status == 201
    assert json.loads(body) == {"echo": '{"a": 1}'}
    assert headers["X-Single"] == "1"
    (event,) = echo.events
    assert event["resource"] == "/orders/{orderId}/items"
    assert event["path"] == "/orders/o-1/items"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"orderId": "o-1"}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["headers"]["Idempotency-Key"] == "k"
    assert event["requestContext"]["resourcePath"] == "/orders/{orderId}/items"
    assert event["isBase64Encoded"] is False


def test_unknown_paths_and_methods_are_refused(gateway: tuple[LocalApiGateway, EchoFunction]) -> None:
    server, echo = gateway
    assert call(f"{server.url}/nowhere")[0] == 404
    assert call(f"{server.url}/orders/o-1/items")[0] == 405
    assert echo.events == []


def test_health_answers_503_until_the_system_is_ready(gateway: tuple[LocalApiGateway, EchoFunction]) -> None:
    server, _ = gateway
    assert call(f"{server.url}/health")[0] == 503


def test_a_method_no_route_serves_is_405_naming_the_allowed_ones(
    gateway: tuple[LocalApiGateway, EchoFunction],
) -> None:
    server, echo = gateway
    server.add_route("GET", "/orders/{orderId}/items", echo)  # type: ignore[arg-type]
    for method in ("PUT", "DELETE", "PATCH", "TRACE", "QUERY"):
        status, headers, body = call(f"{server.url}/orders/o-1/items", method)
        assert (status, headers["Allow"]) == (405, "GET, POST"), method
        assert json.loads(body) == {"message": f"{method} not allowed on /orders/o-1/items"}
    assert echo.events == []


def test_the_openapi_document_is_served_with_the_gateway_as_its_server(tmp_path: Path) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps({"openapi": "3.1.0", "servers": [{"url": "/"}], "paths": {}}))
    gateway = LocalApiGateway("127.0.0.1", 0, lambda: (True, {}), document)
    gateway.start()
    try:
        status, headers, body = call(f"{gateway.url}/openapi.json")
        document.write_text(json.dumps({"openapi": "3.1.0", "paths": {"/x": {}}}))
        again = json.loads(call(f"{gateway.url}/openapi.json")[2])
    finally:
        gateway.stop()

    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert json.loads(body) == {
        "openapi": "3.1.0",
        "servers": [{"url": gateway.url, "description": "the local gateway"}],
        "paths": {},
    }
    assert again["paths"] == {"/x": {}}  # read on every request: a regenerated document is served at once


def test_without_a_document_there_is_no_openapi_route(gateway: tuple[LocalApiGateway, EchoFunction]) -> None:
    server, _ = gateway
    assert call(f"{server.url}/openapi.json")[0] == 404
