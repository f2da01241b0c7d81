"""Repository-wide pytest setup."""

# The X-Ray SDK opens its UDP emitter socket when first imported, which Powertools' Tracer does
# even with tracing disabled. Importing it here, before pytest-socket blocks sockets for each
# test, keeps that one harmless socket out of the unit tests' no-network rule.
import aws_xray_sdk.core  # noqa: F401
