"""The process environment of a test that runs a service's code against moto."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import boto3

from orderflow_devtools.testing.events import REGION
from orderflow_shared import aws

BUS_NAME = "orderflow"
# The private bus the order workflow sends its task-token commands on (infra/template.yaml).
COMMANDS_BUS_NAME = "orderflow-commands"

# Either would send boto3's calls past moto: to a local stack, or to a real account.
_INHERITED_SETTINGS = ("AWS_ENDPOINT_URL", "AWS_PROFILE")


class EnvironmentPatch(Protocol):
    """What pytest's ``monkeypatch`` offers for the environment, undone after each test."""

    def setenv(self, name: str, value: str) -> None: ...

    def delenv(self, name: str, raising: bool = ...) -> None: ...


class _Cached(Protocol):
    def cache_clear(self) -> None: ...


def use_fake_aws(env: EnvironmentPatch, service_name: str, **variables: str) -> None:
    """Dummy credentials in the test region, the bus and Powertools settings every template gives
    its functions (tracing off: there is no X-Ray daemon), plus the service's own ``variables``."""
    settings = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "EVENT_BUS_NAME": BUS_NAME,
        "POWERTOOLS_SERVICE_NAME": service_name,
        "POWERTOOLS_METRICS_NAMESPACE": "orderflow",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **variables,
    }
    for name, value in settings.items():
        env.setenv(name, value)
    for name in _INHERITED_SETTINGS:
        env.delenv(name, raising=False)


def forget_cached_clients(*service_caches: _Cached) -> None:
    """Drops the clients an earlier test cached, so each test's are built in its own environment.

    ``service_caches`` are the service's own cached objects that hold such clients.
    """
    aws.client.cache_clear()
    aws.dynamodb_table.cache_clear()
    for cached in service_caches:
        cached.cache_clear()


@contextmanager
def mocked_aws(*service_caches: _Cached) -> Iterator[None]:
    """moto's in-process AWS, with every cached client (and ``service_caches``) built afresh in it.

    boto3's default session outlives each mock (moto would replace it), so the fresh clients reuse
    its parsed service models instead of reading them from disk again for every test.
    """
    with _mock_aws()(config={"core": {"reset_boto3_session": False}}):
        forget_cached_clients(*service_caches)
        try:
            yield
        finally:
            forget_cached_clients(*service_caches)


@functools.cache
def _mock_aws() -> Any:
    """moto's mock_aws (a test-only dependency, like cfn_flip), and a boto3 default session made
    after moto: moto hooks into each session as it is made, so an older one would reach AWS."""
    from moto import mock_aws

    boto3.DEFAULT_SESSION = None
    return mock_aws
