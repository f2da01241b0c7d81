"""Installing botocore event handlers on every boto3 session a function process makes.

Clients copy their session's handlers when they are created, so the handlers must be on every
session before the handler module makes its clients: the default one (boto3.client) and those that
libraries create themselves (Powertools' idempotency layer and parameters make their own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3


def on_every_session(register: Callable[[Any], None]) -> None:
    """Calls ``register(session.events)`` for every boto3 session, those made from now on included."""
    original_init = boto3.session.Session.__init__

    def init(session: boto3.session.Session, *args: Any, **kwargs: Any) -> None:
        original_init(session, *args, **kwargs)
        register(session.events)

    boto3.session.Session.__init__ = init  # type: ignore[method-assign]
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    register(boto3.DEFAULT_SESSION.events)  # already there through init; unique ids keep it once
