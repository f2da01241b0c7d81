"""Bearer tokens for the local API, from the local user pool.

    make -s token ROLE=operator
    make -s token ROLE=customer CUSTOMER=c-1 EMAIL=ana@example.com

The pool only lets an administrator create accounts, so this acts as one: it creates the user
when new (customers are named by their customer id, which the API reads from the token), makes
sure the email on the account is the one asked for, gives operators the operators group, sets a
fresh random password and signs in with the API's app client. It prints the ID token, which is
what the APIs' Cognito authorizers accept.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from orderflow_local.settings import Settings, local_client

# As infra/template.yaml names them for the default bus name (the local system's).
USER_POOL_NAME = "orderflow-users"
API_CLIENT_NAME = "orderflow-api"
OPERATORS_GROUP = "operators"
OPERATOR_USERNAME = "operator"
OPERATOR_EMAIL = "operator@example.com"


@dataclass(frozen=True)
class Identity:
    username: str
    email: str
    groups: tuple[str, ...] = ()


def operator(username: str = OPERATOR_USERNAME, email: str = OPERATOR_EMAIL) -> Identity:
    return Identity(username, email, (OPERATORS_GROUP,))


def customer(customer_id: str, email: str) -> Identity:
    return Identity(customer_id, email)


def issue_token(cognito: Any, identity: Identity) -> str:
    """An ID token for `identity`, which is created in (or brought in line with) the local pool."""
    pool_id = _named(
        cognito.get_paginator("list_user_pools").paginate(MaxResults=60), "UserPools", USER_POOL_NAME
    )
    client_id = _named(
        cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60),
        "UserPoolClients",
        API_CLIENT_NAME,
        id_key="ClientId",
        name_key="ClientName",
    )
    attributes = [{"Name": "email", "Value": identity.email}, {"Name": "email_verified", "Value": "true"}]
    try:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=identity.username,
            UserAttributes=attributes,
            MessageAction="SUPPRESS",
        )
    except cognito.exceptions.UsernameExistsException:
        cognito.admin_update_user_attributes(
            UserPoolId=pool_id, Username=identity.username, UserAttributes=attributes
        )
    for group in identity.groups:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=identity.username, GroupName=group)
    password = f"Of-{secrets.token_urlsafe(18)}-9a"  # meets the pool's policy: upper, lower, digit, symbol
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=identity.username, Password=password, Permanent=True
    )
    answer = cognito.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": identity.username, "PASSWORD": password},
    )
    return str(answer["AuthenticationResult"]["IdToken"])


def _named(pages: Any, key: str, name: str, id_key: str = "Id", name_key: str = "Name") -> str:
    for page in pages:
        for entry in page[key]:
            if entry[name_key] == name:
                return str(entry[id_key])
    raise LookupError(f"no {name!r} in the local user pool (is the local stack running?)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make token", description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("operator", "customer"), required=True)
    parser.add_argument("--customer", help="the customer id (ROLE=customer)")
    parser.add_argument("--email", help="the customer's email address (ROLE=customer)")
    args = parser.parse_args(argv)
    if args.role == "customer" and not (args.customer and args.email):
        parser.error("ROLE=customer needs CUSTOMER=<id> and EMAIL=<address>")
    identity = operator() if args.role == "operator" else customer(args.customer, args.email)
    cognito = local_client("cognito-idp", Settings.from_env().aws_endpoint)
    try:
        print(issue_token(cognito, identity))
    except LookupError as error:
        print(f"make token: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
