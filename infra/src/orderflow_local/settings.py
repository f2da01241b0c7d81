"""Settings of the local runtime, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


def local_client(service: str, endpoint_url: str, access_key: str = "local") -> Any:
    """A boto3 client of the local AWS (or a service the local system serves) at `endpoint_url`."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key="local",  # noqa: S106 - the local AWS takes any credentials
    )


def _repo_root() -> Path:
    # infra/src/orderflow_local/settings.py -> the repository root
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Settings:
    repo_root: Path = field(default_factory=_repo_root)
    host: str = "127.0.0.1"
    aws_port: int = 4566
    api_port: int = 8000
    payment_provider_port: int = 4577
    # Multiplies every Retry interval, Wait, TimeoutSeconds and HeartbeatSeconds of the workflow
    # and every queue's visibility timeout, so tests run the real policies in a fraction of the time.
    time_scale: float = 1.0
    log_level: str = "INFO"
    # The fault plan (orderflow_local.faults); None: fault injection off, no hook installed.
    fault_plan: Path | None = None
    # The local X-Ray daemon's UDP port (orderflow_local.xray_collector); 0: any free port.
    xray_port: int = 2000

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        fault_plan = env.get("ORDERFLOW_FAULT_PLAN")
        # Another checkout's templates and service code (e.g. a copy with a change under test).
        repo_root = env.get("ORDERFLOW_REPO_ROOT")
        return cls(
            repo_root=Path(repo_root).resolve() if repo_root else _repo_root(),
            aws_port=int(env.get("ORDERFLOW_AWS_PORT", "4566")),
            api_port=int(env.get("ORDERFLOW_API_PORT", "8000")),
            payment_provider_port=int(env.get("ORDERFLOW_PAYMENT_PROVIDER_PORT", "4577")),
            time_scale=float(env.get("ORDERFLOW_TIME_SCALE", "1.0")),
            log_level=env.get("ORDERFLOW_LOG_LEVEL", "INFO"),
            fault_plan=Path(fault_plan).resolve() if fault_plan else None,
            xray_port=int(env.get("ORDERFLOW_XRAY_PORT", "2000")),
        )
