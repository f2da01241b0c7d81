"""AWS clients, created once per Lambda container and reused across invocations.

boto3 honours ``AWS_ENDPOINT_URL``, so the same code talks to moto locally and to AWS in the cloud.
boto3, the largest import a function makes, is loaded with the first client rather than with the
handler module, so that the module imports quickly wherever it is imported (a cold start's INIT,
tests, the OpenAPI generator) and a function loads boto3 when it first calls AWS.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config


@functools.cache
def _config(service_name: str) -> Config:
    from botocore.config import Config

    # Fail fast rather than hang a Lambda for its whole timeout on a stuck connection.
    shared = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
    if service_name == "s3":
        # Presigned URLs must be SigV4: the S3 client may otherwise presign with SigV2, which every
        # region opened since 2014 rejects.
        return shared.merge(Config(signature_version="s3v4"))
    return shared


@functools.cache
def client(service_name: str) -> Any:
    import boto3

    return boto3.client(service_name, config=_config(service_name))


@functools.cache
def dynamodb_table(table_name: str) -> Any:
    import boto3

    return boto3.resource("dynamodb", config=_config("dynamodb")).Table(table_name)
