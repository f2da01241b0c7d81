"""API Gateway's Cognito user pool authorizer, for the local gateway.

An API whose OpenAPI body names a `cognito_user_pools` authorizer gets, for each route it
protects, what API Gateway does before the function runs: the token from the identity header
(with or without `Bearer `), an RS256 signature by one of the named pools (keys from the pool's
JWKS, which moto serves), the pool as issuer, an ID token that has not expired and whose audience
is one of the pool's app clients. A request that fails any of these is answered 401 and never
reaches the function; one that passes reaches it with the token's claims, every value a string,
under `requestContext.authorizer.claims`. Which caller may do what is then the function's call.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from orderflow_local.settings import REGION

_TIME_CLAIMS = ("exp", "iat", "auth_time")


class Unauthorized(Exception):
    """The request carries no token the authorizer accepts (API Gateway answers 401)."""


@dataclass(frozen=True)
class CognitoAuthorizer:
    name: str
    provider_arns: tuple[str, ...]
    header: str = "Authorization"

    @property
    def pool_ids(self) -> tuple[str, ...]:
        return tuple(provider.rsplit("/", 1)[1] for provider in self.provider_arns)


class UnsupportedAuthorizer(ValueError):
    pass


def route_authorizer(body: Mapping[str, Any], operation: Mapping[str, Any]) -> CognitoAuthorizer | None:
    """The authorizer an operation of a (SAM-translated) OpenAPI body requires, if any."""
    requirements = operation.get("security", body.get("security", []))
    definitions = body.get("securityDefinitions", {})
    for requirement in requirements:
        for name, scopes in requirement.items():
            authorizer = definitions.get(name, {}).get("x-amazon-apigateway-authorizer", {})
            if authorizer.get("type") != "cognito_user_pools":
                raise UnsupportedAuthorizer(f"authorizer {name}: only cognito_user_pools runs locally")
            if scopes:
                raise UnsupportedAuthorizer(
                    f"authorizer {name}: scopes (access tokens) are not served locally"
                )
            return CognitoAuthorizer(
                name, tuple(authorizer["providerARNs"]), definitions[name].get("name", "Authorization")
            )
    return None


class TokenVerifier:
    """Checks ID tokens as API Gateway's Cognito authorizer does, against the local user pools."""

    def __init__(self, cognito: Callable[[], Any], jwks: Callable[[str], dict[str, Any]]) -> None:
        self._cognito = cognito
        self._jwks = jwks
        self._keys: dict[str, KeySet] = {}
        self._clients: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def claims(self, authorizer: CognitoAuthorizer, headers: Mapping[str, str]) -> dict[str, str]:
        """The token's claims as API Gateway passes them on, or Unauthorized."""
        value = next((v for k, v in headers.items() if k.lower() == authorizer.header.lower()), "")
        token = value.removeprefix("Bearer ").strip()
        if not token:
            raise Unauthorized("no token")
        try:
            pool_id = self._issuing_pool(token, authorizer)
            decoded = jwt.decode(token, self._key_set(pool_id), algorithms=["RS256"])
        except (JoseError, ValueError) as error:
            raise Unauthorized(f"unreadable or unsigned token: {error}") from error
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            exp={"essential": True},
            iss={"essential": True, "value": _issuer(pool_id)},
            token_use={"essential": True, "value": "id"},
            aud={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise Unauthorized(f"token refused: {error}") from error
        if claims["aud"] not in self._app_clients(pool_id):
            raise Unauthorized("token issued to an unknown app client")
        return {name: _as_string(name, value) for name, value in claims.items()}

    def _issuing_pool(self, token: str, authorizer: CognitoAuthorizer) -> str:
        # The issuer is read unverified only to pick the pool whose keys must then verify it.
        unverified = json.loads(extract_compact(token.encode()).payload)
        issuer = unverified.get("iss") if isinstance(unverified, dict) else None
        for pool_id in authorizer.pool_ids:
            if issuer == _issuer(pool_id):
                return pool_id
        raise ValueError(f"issuer {issuer!r} is none of the authorizer's user pools")

    def _key_set(self, pool_id: str) -> KeySet:
        with self._lock:
            if pool_id not in self._keys:
                self._keys[pool_id] = KeySet.import_key_set(self._jwks(pool_id))  # type: ignore[arg-type]
            return self._keys[pool_id]

    def _app_clients(self, pool_id: str) -> set[str]:
        with self._lock:
            if pool_id not in self._clients:
                paginator = self._cognito().get_paginator("list_user_pool_clients")
                self._clients[pool_id] = {
                    client["ClientId"]
                    for page in paginator.paginate(UserPoolId=pool_id, MaxResults=60)
                    for client in page["UserPoolClients"]
                }
            return self._clients[pool_id]


def served_jwks(aws_endpoint: str) -> Callable[[str], dict[str, Any]]:
    """A pool's public keys as the (moto) endpoint serves them at /<pool id>/.well-known/jwks.json."""

    def fetch(pool_id: str) -> dict[str, Any]:
        url = f"{aws_endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (the local endpoint)
            keys: dict[str, Any] = json.load(response)
        return keys

    return fetch


def _issuer(pool_id: str) -> str:
    return f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}"


def _as_string(name: str, value: Any) -> str:
    """API Gateway's rendering of a claim: times as dates, lists comma-separated, all strings."""
    if name in _TIME_CLAIMS and isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value).lower() if isinstance(value, bool) else str(value)
