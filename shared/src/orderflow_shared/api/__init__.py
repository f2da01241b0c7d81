"""What every public API handler shares: a resolver that takes JSON objects only, and the answers it
documents (error bodies, response declarations) so the OpenAPI document says what really comes back."""

from orderflow_shared.api.caller import SIGNED_IN, Caller, caller_from
from orderflow_shared.api.parameters import NotNullable
from orderflow_shared.api.resolver import JsonObjectBodies, json_api_resolver
from orderflow_shared.api.responses import (
    ErrorMessage,
    ValidationErrors,
    ValidationIssue,
    api_responses,
    error,
    header,
    json_answer,
    redirect,
)

__all__ = [
    "SIGNED_IN",
    "Caller",
    "ErrorMessage",
    "JsonObjectBodies",
    "NotNullable",
    "ValidationErrors",
    "ValidationIssue",
    "api_responses",
    "caller_from",
    "error",
    "header",
    "json_answer",
    "json_api_resolver",
    "redirect",
]
