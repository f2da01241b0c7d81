"""A small IAM evaluator for identity policies: does a role's policy allow one request?

What it knows, as AWS documents it:

- statements with `Effect` Allow or Deny, `Action` or `NotAction`, `Resource` or `NotResource`;
- wildcards `*` and `?` in actions (case-insensitive) and resources (case-sensitive; a `*` also
  crosses `:` and `/`);
- `Condition` blocks: every operator in a block and every key under an operator must hold; the
  values listed for one key are alternatives. Operators `StringEquals`, `StringNotEquals`,
  `StringEqualsIgnoreCase`, `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`,
  `ArnEquals`, `ArnLike`, `ArnNotEquals`, `ArnNotLike` (component by component), `Bool`, `Null`,
  `NumericEquals`, `NumericNotEquals`, `NumericLessThan(Equals)`, `NumericGreaterThan(Equals)`,
  each with the `IfExists` suffix and the `ForAnyValue:` / `ForAllValues:` set prefixes;
- a key missing from the request: a positive operator does not match, a negated one
  (`...Not...`) does, `IfExists` and `ForAllValues:` do, `ForAnyValue:` does not;
- an explicit Deny wins over every Allow; without an applicable Allow the request is denied.

Condition key names are case-insensitive. A condition operator it does not know makes its
statement undecidable: an Allow then does not apply and a Deny does, so the answer errs on the
side of refusing. Policy variables (`${aws:username}`) are not substituted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ContextValue = str | bool | int | float | Sequence[str]


@dataclass(frozen=True)
class Request:
    action: str  # "dynamodb:PutItem"
    resource: str  # an ARN, or "*" for actions without a resource type
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    policy: str  # the name of the policy that holds it
    index: int  # its position in that policy
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_action: bool = False
    not_resource: bool = False
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sid: str | None = None

    @property
    def label(self) -> str:
        return f"{self.policy} statement {self.sid or self.index}"


@dataclass(frozen=True)
class Match:
    """A statement that applies to a request, with the action and resource patterns that matched."""

    statement: Statement
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allowed_by: tuple[Match, ...] = ()
    denied_by: tuple[Match, ...] = ()
    # Statements whose action and resource match but whose condition does not, each with why.
    condition_failures: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if self.denied_by:
            return "explicitly denied by " + ", ".join(m.statement.label for m in self.denied_by)
        if self.allowed:
            return "allowed by " + ", ".join(m.statement.label for m in self.allowed_by)
        if self.condition_failures:
            return "no statement allows it: " + "; ".join(self.condition_failures)
        return "no statement allows this action on this resource"


class PolicyError(ValueError):
    """A policy document that is not an IAM policy (it names the policy and what is wrong)."""


def parse_policy(name: str, document: Mapping[str, Any]) -> tuple[Statement, ...]:
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyError(f"{name}: Statement is neither a statement nor a list of them")
    return tuple(_statement(name, index, raw) for index, raw in enumerate(statements))


def _statement(policy: str, index: int, raw: Any) -> Statement:
    where = f"{policy} statement {index}"
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: not a mapping")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: Effect must be Allow or Deny, not {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{where}: exactly one of Action and NotAction")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise PolicyError(f"{where}: exactly one of Resource and NotResource")
    condition = raw.get("Condition", {})
    if not isinstance(condition, Mapping) or not all(isinstance(v, Mapping) for v in condition.values()):
        raise PolicyError(f"{where}: Condition must map operators to {{key: values}}")
    return Statement(
        policy=policy,
        index=index,
        effect=effect,
        actions=_strings(raw.get("Action", raw.get("NotAction")), where),
        resources=_strings(raw.get("Resource", raw.get("NotResource")), where),
        not_action="NotAction" in raw,
        not_resource="NotResource" in raw,
        condition=condition,
        sid=raw.get("Sid"),
    )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise PolicyError(f"{where}: actions and resources must be strings, got {value!r}")
    return tuple(values)


def evaluate(statements: Iterable[Statement], request: Request) -> Decision:
    allowed: list[Match] = []
    denied: list[Match] = []
    failures: list[str] = []
    for statement in statements:
        match = _target_match(statement, request)
        if match is None:
            continue
        holds, why = condition_holds(statement.condition, request.context)
        if holds is None:  # undecidable: refuse rather than guess
            if statement.effect == "Deny":
                denied.append(match)
            else:
                failures.append(f"{statement.label}: {why}")
        elif holds:
            (allowed if statement.effect == "Allow" else denied).append(match)
        elif statement.effect == "Allow":
            failures.append(f"{statement.label}: {why}")
    return Decision(
        allowed=bool(allowed) and not denied,
        allowed_by=tuple(allowed),
        denied_by=tuple(denied),
        condition_failures=tuple(failures),
    )


def _target_match(statement: Statement, request: Request) -> Match | None:
    actions = tuple(p for p in statement.actions if action_matches(p, request.action))
    if bool(actions) == statement.not_action:
        return None
    resources = tuple(p for p in statement.resources if resource_matches(p, request.resource))
    if bool(resources) == statement.not_resource:
        return None
    if statement.not_action:
        actions = statement.actions
    if statement.not_resource:
        resources = statement.resources
    return Match(statement, actions, resources)


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    return wildcard_matches(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    if resource == "*":  # an action without a resource type is granted on "*" only
        return False
    return wildcard_matches(pattern, resource)


def _arn_matches(pattern: str, arn: str) -> bool:
    # ArnEquals and ArnLike compare each of the six colon-separated parts on its own.
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(wildcard_matches(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


def _numeric(compare: Any) -> Any:
    def matches(value: str, policy_value: str) -> bool:
        try:
            return bool(compare(float(value), float(policy_value)))
        except ValueError:
            return False

    return matches


# Positive comparisons; the negated operators are "matches none of the values".
_COMPARISONS: dict[str, Any] = {
    "StringEquals": lambda v, p: v == p,
    "StringEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
    "StringLike": lambda v, p: wildcard_matches(p, v),
    "ArnEquals": lambda v, p: _arn_matches(p, v),
    "ArnLike": lambda v, p: _arn_matches(p, v),
    "Bool": lambda v, p: v.lower() == p.lower(),
    "NumericEquals": _numeric(lambda v, p: v == p),
    "NumericLessThan": _numeric(lambda v, p: v < p),
    "NumericLessThanEquals": _numeric(lambda v, p: v <= p),
    "NumericGreaterThan": _numeric(lambda v, p: v > p),
    "NumericGreaterThanEquals": _numeric(lambda v, p: v >= p),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}
_SET_QUALIFIERS = ("ForAnyValue", "ForAllValues")


def condition_holds(
    condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, ContextValue]
) -> tuple[bool | None, str]:
    """(True, "") when every operator holds; (False, why) when one does not; (None, why) when one
    cannot be evaluated here."""
    lowered = {key.lower(): value for key, value in context.items()}
    for operator, keys in condition.items():
        for key, policy_values in keys.items():
            values = policy_values if isinstance(policy_values, list) else [policy_values]
            holds = _operator_holds(operator, [_text(v) for v in values], lowered.get(key.lower()))
            if holds is None:
                return None, f"condition operator {operator} is not supported by the check"
            if not holds:
                present = lowered.get(key.lower())
                actual = "the request has no " + key if present is None else f"the request has {present!r}"
                return False, f"{operator} {key} {values!r}: {actual}"
    return True, ""


def _operator_holds(operator: str, policy_values: list[str], present: ContextValue | None) -> bool | None:
    qualifier, _, base = operator.rpartition(":")
    if qualifier and qualifier not in _SET_QUALIFIERS:
        return None
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base.removesuffix("IfExists")
    if base == "Null":
        wants_absent = policy_values[0].lower() == "true" if policy_values else True
        return (present is None) == wants_absent
    negated = base in _NEGATED
    comparison = _COMPARISONS.get(_NEGATED.get(base, base))
    if comparison is None:
        return None
    if present is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return negated
    values = [_text(v) for v in present] if isinstance(present, list | tuple) else [_text(present)]

    def one(value: str) -> bool:
        matched = any(comparison(value, policy_value) for policy_value in policy_values)
        return not matched if negated else matched

    if qualifier == "ForAllValues":
        return all(one(value) for value in values)
    if qualifier == "ForAnyValue" or not negated:
        return any(one(value) for value in values)
    return all(one(value) for value in values)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
