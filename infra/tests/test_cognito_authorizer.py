"""The local Cognito authorizer accepts what API Gateway's accepts and refuses the rest with 401.

Tokens come from moto's user pool (signed with the key moto publishes at the pool's JWKS URL), or
are signed here with that same key or another one, to vary one property at a time.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

from orderflow_local.api_gateway import LocalApiGateway
from orderflow_local.cognito import (
    CognitoAuthorizer,
    TokenVerifier,
    Unauthorized,
    UnsupportedAuthorizer,
    route_authorizer,
)
from orderflow_local.tokens import customer, issue_token, operator

# The key pair moto signs its user pools' tokens with, and the public half it serves as their JWKS.
MOTO_PRIVATE_KEY = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
MOTO_PUBLIC_KEYS: dict[str, Any] = load_resource("cognitoidp/resources/jwks-public.json")


@pytest.fixture
def pool(fake_aws: None) -> dict[str, str]:
    """The user pool and app client the infra template declares, created the way it does."""
    cognito = boto3.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="orderflow-users")["UserPool"]
    cognito.create_group(GroupName="operators", UserPoolId=pool["Id"])
    client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="orderflow-api",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"],
        ReadAttributes=["email"],
    )["UserPoolClient"]
    return {"id": pool["Id"], "arn": pool["Arn"], "client": client["ClientId"]}


@pytest.fixture
def verifier(pool: dict[str, str]) -> TokenVerifier:
    return TokenVerifier(lambda: boto3.client("cognito-idp"), lambda pool_id: MOTO_PUBLIC_KEYS)


@pytest.fixture
def authorizer(pool: dict[str, str]) -> CognitoAuthorizer:
    return CognitoAuthorizer("UserPool", (pool["arn"],))


def signed(pool: dict[str, str], key: RSAKey = MOTO_PRIVATE_KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{pool['id']}",
        "sub": "5f0c",
        "aud": pool["client"],
        "token_use": "id",
        "cognito:username": "c-1",
        "email": "ana@example.com",
        "iat": now,
        "exp": now + 600,
    } | changes
    return jwt.encode(
        {"alg": "RS256", "kid": "dummy"}, {k: v for k, v in claims.items() if v is not None}, key
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_customer_token_of_the_pool_is_accepted_and_its_claims_passed_on_as_strings(
    verifier: TokenVerifier, authorizer: CognitoAuthorizer
) -> None:
    token = issue_token(boto3.client("cognito-idp"), customer("c-1", "ana@example.com"))
    claims = verifier.claims(authorizer, bearer(token))
    assert claims["cognito:username"] == "c-1"
    assert claims["email"] == "ana@example.com"
    assert claims["token_use"] == "id"
    assert "cognito:groups" not in claims
    assert all(isinstance(value, str) for value in claims.values())
    assert claims["exp"].endswith(time.strftime("%Y", time.gmtime()))  # "Wed Dec 02 03:04:05 UTC 2026"


def test_an_operator_token_carries_the_group_comma_separated(
    verifier: TokenVerifier, authorizer: CognitoAuthorizer, pool: dict[str, str]
) -> None:
    cognito = boto3.client("cognito-idp")
    token = issue_token(cognito, operator())
    cognito.create_group(GroupName="auditors", UserPoolId=pool["id"])
    cognito.admin_add_user_to_group(UserPoolId=pool["id"], Username="operator", GroupName="auditors")
    assert verifier.claims(authorizer, bearer(token))["cognito:groups"] == "operators"
    both = issue_token(cognito, operator())
    groups = verifier.claims(authorizer, bearer(both))["cognito:groups"]
    assert sorted(groups.split(",")) == ["auditors", "operators"]


def test_the_token_is_taken_with_or_without_the_bearer_prefix(
    verifier: TokenVerifier, authorizer: CognitoAuthorizer, pool: dict[str, str]
) -> None:
    token = signed(pool)
    assert verifier.claims(authorizer, {"authorization": token})["cognito:username"] == "c-1"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer "}, {"Authorization": "Bearer not-a-jwt"}],
    ids=["no-header", "empty", "bearer-only", "not-a-jwt"],
)
def test_no_readable_token_is_unauthorized(
    verifier: TokenVerifier, authorizer: CognitoAuthorizer, headers: dict[str, str]
) -> None:
    with pytest.raises(Unauthorized):
        verifier.claims(authorizer, headers)


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 1},
        {"exp": None},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_another"},
        {"aud": "a-client-of-another-pool"},
        {"token_use": "access"},
    ],
    ids=["expired", "no-expiry", "another-pool", "unknown-audience", "access-token"],
)
def test_a_token_the_authorizer_would_refuse_is_unauthorized(
    verifier: TokenVerifier, authorizer: CognitoAuthorizer, pool: dict[str, str], changes: dict[str, Any]
) -> None:
    assert verifier.claims(authorizer, bearer(signed(pool)))  # the unchanged token passes
    with pytest.raises(Unauthorized):
        verifier.claims(authorizer, bearer(signed(pool, **changes)))


def test_a_token_signed_by_another_key_with_the_pools_key_id_is_unauthorized(
    verifier: TokenVerifier, authorizer: CognitoAuthorizer, pool: dict[str, str]
) -> None:
    forger = RSAKey.generate_key(2048)
    with pytest.raises(Unauthorized):
        verifier.claims(authorizer, bearer(signed(pool, key=forger)))


def test_a_token_whose_claims_were_edited_after_signing_is_unauthorized(
    verifier: TokenVerifier, authorizer: CognitoAuthorizer, pool: dict[str, str]
) -> None:
    header, payload, signature = signed(pool).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["operators"]
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(Unauthorized):
        verifier.claims(authorizer, bearer(f"{header}.{edited}.{signature}"))


def test_the_route_authorizer_is_read_from_the_translated_openapi_body() -> None:
    body = {
        "securityDefinitions": {
            "UserPool": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authorizer": {
                    "type": "cognito_user_pools",
                    "providerARNs": ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc"],
                },
            },
            "Custom": {"x-amazon-apigateway-authorizer": {"type": "token"}},
        }
    }
    protected = route_authorizer(body, {"security": [{"UserPool": []}]})
    assert protected is not None
    assert protected.pool_ids == ("us-east-1_abc",)
    assert route_authorizer(body, {}) is None
    with pytest.raises(UnsupportedAuthorizer, match="scopes"):
        route_authorizer(body, {"security": [{"UserPool": ["orders/read"]}]})
    with pytest.raises(UnsupportedAuthorizer, match="cognito_user_pools"):
        route_authorizer(body, {"security": [{"Custom": []}]})


class RecordingFunction:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "body": "{}"}


@pytest.fixture
def protected_gateway(
    verifier: TokenVerifier, authorizer: CognitoAuthorizer
) -> Iterator[tuple[LocalApiGateway, RecordingFunction]]:
    gateway = LocalApiGateway("127.0.0.1", 0, lambda: (True, {}), verifier=verifier)
    function = RecordingFunction()
    gateway.add_route("GET", "/orders/{orderId}", function, authorizer)  # type: ignore[arg-type]
    gateway.start()
    yield gateway, function
    gateway.stop()


@pytest.mark.enable_socket
def test_the_gateway_answers_401_without_invoking_and_hands_the_claims_on_otherwise(
    protected_gateway: tuple[LocalApiGateway, RecordingFunction], pool: dict[str, str]
) -> None:
    gateway, function = protected_gateway
    assert get(f"{gateway.url}/orders/o-1", {}) == (401, {"message": "Unauthorized"})
    assert get(f"{gateway.url}/orders/o-1", bearer(signed(pool, exp=int(time.time()) - 1)))[0] == 401
    assert function.events == []
    assert get(f"{gateway.url}/orders/o-1", bearer(signed(pool)))[0] == 200
    (event,) = function.events
    assert event["requestContext"]["authorizer"]["claims"]["cognito:username"] == "c-1"


def get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
