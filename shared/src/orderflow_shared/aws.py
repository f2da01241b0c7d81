"""AWS clients, created once per Lambda container and reused across invocations.

boto3 honours ``AWS_ENDPOINT_URL``, so the same code talks to moto locally and to AWS in the cloud.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

# Fail fast rather than hang a Lambda for its whole timeout on a stuck connection.
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})

_SERVICE_CONFIGS = {
    # Presigned URLs must be SigV4: the S3 client may otherwise presign with SigV2, which every
    # region opened since 2014 rejects.
    "s3": _CLIENT_CONFIG.merge(Config(signature_version="s3v4")),
}


@functools.cache
def client(service_name: str) -> Any:
    return boto3.client(service_name, config=_SERVICE_CONFIGS.get(service_name, _CLIENT_CONFIG))


@functools.cache
def dynamodb_table(table_name: str) -> Any:
    return boto3.resource("dynamodb", config=_CLIENT_CONFIG).Table(table_name)
