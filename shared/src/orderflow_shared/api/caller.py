"""Who is calling: the signed-in user API Gateway's Cognito authorizer vouched for.

The authorizer has checked the ID token (signature, issuer, expiry, audience) before the function
runs and passes its claims on under ``requestContext.authorizer.claims``, every value a string and
``cognito:groups`` comma-separated. What a caller may do is decided here, from those claims only:
a customer is the user pool user (their customer id is the username), and members of the group the
template names in ``OPERATORS_GROUP`` are operators.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, UnauthorizedError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

# The OpenAPI security requirement of every route behind the user pool authorizer.
SECURITY_SCHEME = "cognitoUserPool"
SIGNED_IN: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]


def security_schemes() -> dict[str, SecurityScheme]:
    """The OpenAPI document's security schemes: the user pool's bearer tokens.

    Made when a document is: Powertools' OpenAPI models take longer to import than anything else an
    API function loads, and serving a request never needs them.
    """
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return {
        SECURITY_SCHEME: HTTPBearer(
            bearerFormat="JWT",
            description=(
                "An ID token of the orderflow user pool, as `Authorization: Bearer <token>` (locally: "
                "`make -s token ROLE=operator` or "
                "`make -s token ROLE=customer CUSTOMER=<id> EMAIL=<address>`)"
            ),
        )
    }


@dataclass(frozen=True)
class Caller:
    username: str  # a customer's customer id
    email: str | None
    groups: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return operators_group() in self.groups

    def require_operator(self, doing: str) -> None:
        if not self.is_operator:
            raise ForbiddenError(f"only operators may {doing}")


def operators_group() -> str:
    return os.environ.get("OPERATORS_GROUP", "operators")


def caller_from(event: Any) -> Caller:
    """The caller of an API Gateway REST proxy event; 401 when no authorizer vouched for anyone
    (a route deployed without its authorizer serves nobody rather than everybody)."""
    claims = event.request_context.authorizer.claims or {}
    username = claims.get("cognito:username")
    if not username or claims.get("token_use") != "id":
        raise UnauthorizedError("Unauthorized")
    groups = claims.get("cognito:groups") or ""
    return Caller(
        username=username,
        email=claims.get("email") or None,
        groups=frozenset(group for group in groups.split(",") if group),
    )
