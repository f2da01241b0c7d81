"""A local API Gateway: HTTP requests in, REST API Lambda proxy events to the handlers, responses out.

Routes come from the REST APIs the SAM templates declare (their OpenAPI bodies), so a new
endpoint in a template is served here without any local list to keep in step. Local stand-ins
for AWS APIs that moto lacks (the Schemas API) are mounted on a path prefix and answer first.
Besides the routes it answers GET /health and GET /openapi.json, the public API's document with
this gateway as its server. A route whose API declares a Cognito authorizer is served only with a
token that authorizer accepts (orderflow_local.cognito), as API Gateway would.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from orderflow_local.cognito import CognitoAuthorizer, TokenVerifier, Unauthorized
from orderflow_local.lambda_runtime import FunctionError, LocalFunction
from orderflow_local.settings import ACCOUNT_ID

logger = logging.getLogger(__name__)

STAGE = "Prod"
OPENAPI_PATH = "/openapi.json"
_PATH_PARAMETER = re.compile(r"\{([^}+]+)(\+?)\}")


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # the API Gateway resource path, e.g. /orders/{orderId}
    function: LocalFunction
    authorizer: CognitoAuthorizer | None = None

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        # Compiled once per route, not on every request.
        return compile_resource(self.resource)


@dataclass(frozen=True)
class JsonResponse:
    status: int
    document: Any
    headers: Mapping[str, str] = field(default_factory=dict)


# (method, raw path with its percent-encoding kept, query parameters) -> response
MountedService = Callable[[str, str, Mapping[str, list[str]]], JsonResponse]


def compile_resource(resource: str) -> re.Pattern[str]:
    """A regex for an API Gateway resource path: {name} is one segment, {name+} the rest."""
    parts = []
    for segment in resource.strip("/").split("/"):
        parameter = _PATH_PARAMETER.fullmatch(segment)
        if parameter is None:
            parts.append(re.escape(segment))
        else:
            name, greedy = parameter.groups()
            parts.append(f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)")
    return re.compile("^/" + "/".join(parts) + "$")


class LocalApiGateway:
    def __init__(
        self,
        host: str,
        port: int,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        openapi_document: Path | None = None,
        verifier: TokenVerifier | None = None,
    ) -> None:
        self._routes: list[Route] = []
        self._verifier = verifier
        self._mounts: list[tuple[str, MountedService]] = []
        # Requests that reached a route (what API Gateway bills), by "METHOD resource".
        self.requests: Counter[str] = Counter()
        self._requests_lock = threading.Lock()
        self._health = health
        self._openapi_document = openapi_document
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                gateway.handle(self)

            def __getattr__(self, name: str) -> Any:
                # Every method reaches the routes (TRACE, QUERY, ... included), so one no route
                # serves is answered 405 with Allow, not http.server's 501.
                if name.startswith("do_"):
                    return self.do_GET
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                logger.info("%s %s", self.address_string(), format % args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_route(
        self, method: str, resource: str, function: LocalFunction, authorizer: CognitoAuthorizer | None = None
    ) -> None:
        if authorizer is not None and self._verifier is None:
            raise ValueError(f"{method} {resource} needs an authorizer, and this gateway verifies no tokens")
        self._routes.append(Route(method.upper(), resource, function, authorizer))

    def replace_routes(self, functions: Collection[LocalFunction], routes: list[Route]) -> None:
        """Swap every route served by one of ``functions`` for ``routes``, in one step (a redeploy's:
        no request sees the stack's routes missing)."""
        if any(route.authorizer is not None for route in routes) and self._verifier is None:
            raise ValueError("a route needs an authorizer, and this gateway verifies no tokens")
        kept = [route for route in self._routes if not any(route.function is f for f in functions)]
        self._routes = kept + [Route(r.method.upper(), r.resource, r.function, r.authorizer) for r in routes]

    def mount(self, prefix: str, service: MountedService) -> None:
        """Serve every request under `prefix` (the prefix itself included) with `service`."""
        self._mounts.append((prefix.rstrip("/"), service))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        path = unquote(split.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if path == "/health" and request.command == "GET":
            healthy, detail = self._health()
            _reply(request, HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE, detail)
            return
        if path == OPENAPI_PATH and request.command == "GET" and self._openapi_document is not None:
            _reply(request, HTTPStatus.OK, self.openapi())
            return
        mounted = next((s for p, s in self._mounts if path == p or path.startswith(p + "/")), None)
        if mounted is not None:
            answer = mounted(request.command, split.path, parse_qs(split.query, keep_blank_values=True))
            _reply(request, answer.status, answer.document, answer.headers)
            return
        matches = [(route, match) for route in self._routes if (match := route.pattern.match(path))]
        if not matches:
            _reply(request, HTTPStatus.NOT_FOUND, {"message": f"no route for {path}"})
            return
        chosen = next(((r, m) for r, m in matches if r.method in (request.command, "ANY")), None)
        if chosen is None:
            allowed = ", ".join(sorted({route.method for route, _ in matches}))
            _reply(
                request,
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"message": f"{request.command} not allowed on {path}"},
                {"Allow": allowed},  # as RFC 9110 asks of a 405
            )
            return
        route, match = chosen
        with self._requests_lock:
            self.requests[f"{route.method} {route.resource}"] += 1
        claims = None
        if route.authorizer is not None:
            assert self._verifier is not None
            try:
                claims = self._verifier.claims(route.authorizer, dict(request.headers.items()))
            except Unauthorized as refused:
                logger.info("%s %s: 401, %s", request.command, path, refused)
                _reply(request, HTTPStatus.UNAUTHORIZED, {"message": "Unauthorized"})
                return
        event = proxy_event(request, route, path, split.query, body, match.groupdict(), claims)
        try:
            response = route.function.invoke(event)
        except FunctionError as error:
            logger.error("%s %s: %s", request.command, path, error)
            _reply(request, HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
            return
        _reply_proxy(request, response)

    def openapi(self) -> dict[str, Any]:
        """The committed document, read on each request (so a regenerated one is served at once),
        with this gateway as the server its operations are called on."""
        assert self._openapi_document is not None
        document: dict[str, Any] = json.loads(self._openapi_document.read_text())
        document["servers"] = [{"url": self.url, "description": "the local gateway"}]
        return document


def proxy_event(
    request: BaseHTTPRequestHandler,
    route: Route,
    path: str,
    query: str,
    body: bytes,
    path_parameters: dict[str, str],
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy integration event, as API Gateway builds it."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        multi_headers.setdefault(name, []).append(value)
    multi_query = parse_qs(query, keep_blank_values=True) if query else None
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": request.command,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": route.resource,
            "httpMethod": request.command,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "protocol": request.request_version,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {
                "sourceIp": request.client_address[0],
                "userAgent": request.headers.get("User-Agent"),
            },
            **({"authorizer": {"claims": claims}} if claims is not None else {}),
        },
        "body": text if body else None,
        "isBase64Encoded": is_base64,
    }


def _reply(
    request: BaseHTTPRequestHandler, status: int, document: Any, headers: Mapping[str, str] | None = None
) -> None:
    payload = json.dumps(document).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    request.wfile.write(payload)


def _reply_proxy(request: BaseHTTPRequestHandler, response: Any) -> None:
    if not isinstance(response, dict) or "statusCode" not in response:
        # API Gateway answers a malformed proxy response with 502.
        _reply(request, HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
        return
    body = response.get("body") or ""
    payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    request.send_response(int(response["statusCode"]))
    headers: dict[str, list[str]] = {k: [str(v)] for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = [str(v) for v in values]
    for name, values in headers.items():
        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
            for value in values:
                request.send_header(name, value)
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    request.wfile.write(payload)
