"""Builders of the real Lambda events, for tests of any service.

They produce exactly what AWS (and the local runtime's pollers) deliver: an SQS batch whose
bodies are EventBridge events built from the contract models, and an API Gateway REST proxy
event, with the claims of the ID token the user pool authorizer vouched for. Tests use them
instead of hand-written dicts so the shape cannot drift.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orderflow_shared.api.caller import operators_group
from orderflow_shared.contracts.base import Event

REGION = "us-east-1"
ACCOUNT = "123456789012"
USER_POOL_ID = f"{REGION}_0rderf1ow"
APP_CLIENT_ID = "4example0app0client0id0000"
USER_POOL_ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{USER_POOL_ID}"
OPERATOR_EMAIL = "operator@orderflow.example"


def eventbridge_event(event: Event, bus_name: str = "orderflow") -> dict[str, Any]:
    return aws_event(event.SOURCE, event.DETAIL_TYPE, event.to_wire())


def aws_event(
    source: str, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None
) -> dict[str, Any]:
    """An EventBridge envelope around any detail, AWS's own events (not contracts) included."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": resources or [],
        "detail": detail,
    }


def scheduled_event(rule_name: str) -> str:
    """The body EventBridge delivers to a queue each time a ScheduleExpression rule fires."""
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"
    return json.dumps(aws_event("aws.events", "Scheduled Event", {}, [rule_arn]))


def sqs_record(body: str, queue_name: str = "queue", receive_count: int = 1) -> dict[str, Any]:
    now_ms = str(int(time.time() * 1000))
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": base64.b64encode(uuid.uuid4().bytes).decode(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now_ms,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}",
        "awsRegion": REGION,
    }


def sqs_event(*events: Event | str) -> dict[str, Any]:
    """An SQS batch carrying the given events (or raw bodies, to test malformed input)."""
    bodies = [e if isinstance(e, str) else json.dumps(eventbridge_event(e)) for e in events]
    return {"Records": [sqs_record(body) for body in bodies]}


def api_event(
    method: str,
    path: str,
    resource: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST proxy event; ``claims`` (see ``id_token_claims``) are those of the caller's ID token,
    which the user pool authorizer passes under ``requestContext.authorizer.claims``. Without them
    the event is one no authorizer vouched for."""
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "httpMethod": method,
            "path": f"/Prod{path}",
            "resourcePath": resource,
            "stage": "Prod",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "tests"},
            **({"authorizer": {"claims": dict(claims)}} if claims is not None else {}),
        },
        "body": text,
        "isBase64Encoded": False,
    }


def id_token_claims(
    username: str,
    email: str | None,
    groups: Iterable[str] = (),
    *,
    token_use: str = "id",  # noqa: S107 - the kind of token, not a secret
    issued_at: datetime | None = None,
) -> dict[str, str]:
    """The claims of a user pool ID token as API Gateway's Cognito authorizer passes them on: every
    value a string, times as dates, ``cognito:groups`` comma-separated (absent without groups),
    ``email`` absent when ``email`` is None."""
    issued = (issued_at or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{USER_POOL_ISSUER}/{username}")),
        "iss": USER_POOL_ISSUER,
        "aud": APP_CLIENT_ID,
        "cognito:username": username,
        "token_use": token_use,
        "auth_time": _claim_time(issued),
        "iat": _claim_time(issued),
        "exp": _claim_time(issued + timedelta(hours=1)),
        "event_id": str(uuid.uuid4()),
        "origin_jti": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
    }
    if email is not None:
        claims |= {"email": email, "email_verified": "true"}
    if joined := ",".join(groups):
        claims["cognito:groups"] = joined
    return claims


def customer_claims(customer_id: str, email: str | None) -> dict[str, str]:
    """A customer's ID token: their customer id is their username; in no group."""
    return id_token_claims(customer_id, email)


def operator_claims(
    username: str = "operator", email: str | None = OPERATOR_EMAIL, group: str | None = None
) -> dict[str, str]:
    """An operator's ID token: a member of ``group``, by default the one ``OPERATORS_GROUP`` names."""
    return id_token_claims(username, email, [group or operators_group()])


def _claim_time(moment: datetime) -> str:
    # API Gateway renders the token's epoch seconds as a date, e.g. "Thu Feb 06 17:18:08 UTC 2020".
    return moment.astimezone(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
