"""caller_from: the signed-in caller from the claims API Gateway's user pool authorizer passes on."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, UnauthorizedError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from orderflow_devtools.testing import (
    FakeLambdaContext,
    api_event,
    customer_claims,
    id_token_claims,
    operator_claims,
)
from orderflow_shared.api.caller import SIGNED_IN, Caller, caller_from
from orderflow_shared.api.resolver import json_api_resolver
from orderflow_shared.api.responses import ErrorMessage, api_responses, error


def caller(claims: dict[str, str] | None) -> Caller:
    return caller_from(APIGatewayProxyEvent(api_event("GET", "/me", "/me", claims=claims)))


# --- caller_from -----------------------------------------------------------------------------------


def test_a_customer_is_their_username_and_email_in_no_group() -> None:
    ana = caller(customer_claims("c-1", "ana@example.com"))

    assert ana == Caller(username="c-1", email="ana@example.com", groups=frozenset())
    assert not ana.is_operator


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("operators", {"operators"}),
        ("a,b", {"a", "b"}),
        ("testers,operators", {"testers", "operators"}),
        ("a,,b,", {"a", "b"}),
        ("", set()),
    ],
)
def test_groups_are_split_on_commas(groups: str, expected: set[str]) -> None:
    claims = {**customer_claims("c-1", "ana@example.com"), "cognito:groups": groups}

    assert caller(claims).groups == frozenset(expected)


def test_a_member_of_the_operators_group_among_others_is_an_operator() -> None:
    claims = id_token_claims("olga", "olga@example.com", ["testers", "operators"])

    assert caller(claims).is_operator
    assert caller(operator_claims()).is_operator


def test_the_operators_group_is_the_one_operators_group_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPERATORS_GROUP", "stock-keepers")

    assert not caller(id_token_claims("olga", None, ["operators"])).is_operator
    assert caller(id_token_claims("olga", None, ["stock-keepers"])).is_operator
    assert caller(operator_claims()).is_operator  # the helper follows the setting


def test_a_token_without_email_has_none() -> None:
    assert caller(customer_claims("c-1", None)).email is None
    assert caller({**customer_claims("c-1", "ana@example.com"), "email": ""}).email is None


def test_without_an_authorizer_there_is_no_caller() -> None:
    with pytest.raises(UnauthorizedError):
        caller(None)


def test_an_authorizer_with_null_claims_vouches_for_nobody() -> None:
    event = api_event("GET", "/me", "/me")
    event["requestContext"]["authorizer"] = {"claims": None}

    with pytest.raises(UnauthorizedError):
        caller_from(APIGatewayProxyEvent(event))


@pytest.mark.parametrize("username", [None, ""], ids=["missing", "empty"])
def test_claims_without_a_username_are_no_caller(username: str | None) -> None:
    claims = customer_claims("c-1", "ana@example.com")
    if username is None:
        del claims["cognito:username"]
    else:
        claims["cognito:username"] = username

    with pytest.raises(UnauthorizedError):
        caller(claims)


@pytest.mark.parametrize("token_use", ["access", "ID", ""])
def test_only_an_id_token_is_a_caller(token_use: str) -> None:
    with pytest.raises(UnauthorizedError):
        caller(id_token_claims("c-1", "ana@example.com", token_use=token_use))


def test_a_token_without_token_use_is_no_caller() -> None:
    claims = customer_claims("c-1", "ana@example.com")
    del claims["token_use"]

    with pytest.raises(UnauthorizedError):
        caller(claims)


def test_only_an_operator_passes_require_operator() -> None:
    caller(operator_claims()).require_operator("set stock")

    with pytest.raises(ForbiddenError, match="only operators may set stock"):
        caller(customer_claims("c-1", "ana@example.com")).require_operator("set stock")


# --- the claims the test events carry --------------------------------------------------------------

API_GATEWAY_DATE = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}$")


def test_claims_are_shaped_as_api_gateway_passes_them() -> None:
    issued = datetime(2026, 2, 6, 16, 18, 8, tzinfo=UTC)
    claims = id_token_claims("olga", "olga@example.com", ["operators", "testers"], issued_at=issued)

    assert all(isinstance(value, str) for value in claims.values())
    assert claims["cognito:groups"] == "operators,testers"
    assert (claims["cognito:username"], claims["email"], claims["token_use"]) == (
        "olga",
        "olga@example.com",
        "id",
    )
    assert claims["iss"].startswith("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_")
    assert claims["aud"]
    assert claims["sub"]
    assert (claims["iat"], claims["exp"]) == ("Fri Feb 06 16:18:08 UTC 2026", "Fri Feb 06 17:18:08 UTC 2026")
    assert API_GATEWAY_DATE.match(claims["auth_time"])


def test_a_customers_claims_have_no_groups_and_may_lack_email() -> None:
    claims = customer_claims("c-1", None)

    assert "cognito:groups" not in claims
    assert "email" not in claims
    assert claims["cognito:username"] == "c-1"


def test_the_claims_land_where_the_authorizer_puts_them() -> None:
    claims = operator_claims()

    assert api_event("GET", "/me", "/me", claims=claims)["requestContext"]["authorizer"] == {"claims": claims}
    assert "authorizer" not in api_event("GET", "/me", "/me")["requestContext"]


# --- the document and the answers ------------------------------------------------------------------


def test_api_responses_documents_the_gateways_401() -> None:
    answers = api_responses({200: error("Fine")})

    assert sorted(answers) == [200, 401, 422]
    assert answers[401]["content"]["application/json"] == {"model": ErrorMessage}
    assert "token" in answers[401]["description"]


def test_a_route_keeps_its_own_401() -> None:
    own = error("Our own reason")

    assert api_responses({401: own})[401] is own


def test_the_document_declares_the_bearer_scheme_the_routes_require() -> None:
    app = json_api_resolver()

    @app.get("/me", security=SIGNED_IN, responses=api_responses({200: error("You")}))
    def me() -> dict[str, Any]:
        return {}

    document = app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True, mode="json")

    [(name, scheme)] = document["components"]["securitySchemes"].items()
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["paths"]["/me"]["get"]["security"] == [{name: []}]
    assert "401" in document["paths"]["/me"]["get"]["responses"]


def test_a_route_refuses_a_request_nobody_vouched_for_with_the_documented_401() -> None:
    app = json_api_resolver()

    @app.get("/me", security=SIGNED_IN, responses=api_responses({200: error("You")}))
    def me() -> dict[str, Any]:
        return {"username": caller_from(app.current_event).username}

    refused = app.resolve(api_event("GET", "/me", "/me"), FakeLambdaContext())
    served = app.resolve(
        api_event("GET", "/me", "/me", claims=customer_claims("c-1", "ana@example.com")), FakeLambdaContext()
    )

    assert refused["statusCode"] == 401
    assert ErrorMessage.model_validate_json(refused["body"]) == ErrorMessage(
        status_code=401, message="Unauthorized"
    )
    assert (served["statusCode"], json.loads(served["body"])) == (200, {"username": "c-1"})
