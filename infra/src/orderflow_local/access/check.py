"""The least-privilege check: every recorded call against its function's role, and the grants no call used.

A call fails the check when its function's policies do not allow one of the IAM requests it makes
(``calls.accesses``), when the mapper does not know the operation, or when the function's grants
cannot be known (no deployed role, an unknown AWS managed policy, metadata that does not parse).
A grant (a statement's action on one of its resources) that no allowed request used is reported;
it fails the check only with ``fail_unused``, and then only unless the function's template
justifies it (``policies`` describes the metadata).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderflow_local.access.calls import Call, UnknownOperation, accesses
from orderflow_local.access.evaluate import (
    ContextValue,
    Decision,
    Request,
    Statement,
    action_matches,
    evaluate,
    wildcard_matches,
)
from orderflow_local.access.policies import FunctionGrants, from_log
from orderflow_local.access.recording import CALLS_DIR
from orderflow_local.settings import ACCOUNT_ID


@dataclass(frozen=True)
class RecordedCall:
    function: str  # logical id
    function_name: str  # physical name
    call: Call
    refused: bool = False  # refused when made (access.enforce): it never reached AWS


@dataclass(frozen=True)
class Denial:
    function: str  # "<stack>.<logical id>"
    request: Request
    reason: str
    operation: str  # "<service>.<Operation>", "(presigned)" added for a presigned URL
    count: int
    refused: int = 0  # how many of them were refused when made


@dataclass(frozen=True)
class UnusedGrant:
    """Actions of one policy that no allowed request used on any of these resources."""

    function: str
    policy: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    justification: str | None = None  # the template's reason, when it gives one


@dataclass
class Report:
    calls: int = 0
    requests: int = 0
    functions_run: set[str] = field(default_factory=set)
    denials: list[Denial] = field(default_factory=list)
    unknown_operations: Counter[tuple[str, str]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    unused: list[UnusedGrant] = field(default_factory=list)
    stale_justifications: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    unreadable_lines: int = 0

    @property
    def unjustified_unused(self) -> list[UnusedGrant]:
        return [grant for grant in self.unused if grant.justification is None]

    def failed(self, fail_unused: bool = False) -> bool:
        return bool(
            self.denials
            or self.unknown_operations
            or self.problems
            or self.unreadable_lines
            or (fail_unused and self.unjustified_unused)
        )

    def text(self, fail_unused: bool = False, compact: bool = False) -> str:
        """The report; `compact` counts the unused grants per function instead of listing them."""
        lines = [
            f"least privilege: {self.calls} recorded calls ({self.requests} IAM requests) by "
            f"{len(self.functions_run)} functions, checked against their roles as deployed"
        ]
        if self.unreadable_lines:
            lines.append(f"  {self.unreadable_lines} unreadable lines: their calls are not checked")
        lines += _section(f"DENIED ({len(self.denials)})", [_denial(d) for d in self.denials])
        lines += _section(
            f"UNKNOWN OPERATIONS ({len(self.unknown_operations)})",
            [
                f"  {function}: {operation} x{count} (no IAM mapping in orderflow_local/access/calls.py)"
                for (function, operation), count in sorted(self.unknown_operations.items())
            ],
        )
        lines += _section(f"CANNOT CHECK ({len(self.problems)})", [f"  {p}" for p in self.problems])
        unjustified = self.unjustified_unused
        verdict = "failing (--fail-unused)" if fail_unused else "reported, not failing (see --fail-unused)"
        justified = [grant for grant in self.unused if grant.justification is not None]
        listing = _unused_counts if compact else _unused_lines
        lines += _section(
            f"UNUSED GRANTS, NOT JUSTIFIED ({len(unjustified)}; {verdict})", listing(unjustified)
        )
        lines += _section(f"UNUSED GRANTS, JUSTIFIED ({len(justified)})", listing(justified))
        lines += _section(
            f"JUSTIFICATIONS MATCHING NO UNUSED GRANT ({len(self.stale_justifications)})",
            [f"  {s}" for s in self.stale_justifications],
        )
        lines += _section(
            f"DEPLOYED BUT NEVER STARTED ({len(self.not_run)}; their grants are not judged)",
            [f"  {name}" for name in self.not_run],
        )
        lines.append("least privilege: " + ("FAILED" if self.failed(fail_unused) else "passed"))
        return "\n".join(lines)


def _section(title: str, body: list[str]) -> list[str]:
    return ["", title, *body] if body else []


def _denial(denial: Denial) -> str:
    context = ", ".join(f"{key}={value!r}" for key, value in sorted(denial.request.context.items()))
    return "\n".join(
        [
            f"  {denial.function}: {denial.request.action} on {denial.request.resource}"
            f"  [{denial.operation} x{denial.count}"
            + (f", {denial.refused} refused when made" if denial.refused else "")
            + "]",
            *([f"    conditions: {context}"] if context else []),
            f"    why: {denial.reason}",
        ]
    )


def _unused_counts(grants: list[UnusedGrant]) -> list[str]:
    counts = Counter(grant.function for grant in grants for _ in grant.actions)
    return [f"  {function}: {count} actions" for function, count in sorted(counts.items())]


def _unused_lines(grants: list[UnusedGrant]) -> list[str]:
    lines: list[str] = []
    by_function: dict[str, list[UnusedGrant]] = defaultdict(list)
    for grant in grants:
        by_function[grant.function].append(grant)
    for function in sorted(by_function):
        lines.append(f"  {function}")
        for grant in by_function[function]:
            why = f"  -- {grant.justification}" if grant.justification else ""
            lines.append(f"    {grant.policy}: {', '.join(grant.actions)}")
            lines.append(f"      on {', '.join(grant.resources)}{why}")
    return lines


# --- reading the log ---------------------------------------------------------------------------


def load_calls(directory: Path, report: Report | None = None) -> Iterator[RecordedCall]:
    for path in sorted((directory / CALLS_DIR).glob("*.jsonl")):
        if report is not None:
            report.functions_run.add(path.name.rsplit(".", 2)[0])
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
                call = Call(
                    service=record["service"],
                    operation=record["operation"],
                    params=record.get("params", {}),
                    response=record.get("response", {}),
                    region=record.get("region") or "us-east-1",
                    account=ACCOUNT_ID,
                    presigned=bool(record.get("presigned")),
                )
                yield RecordedCall(
                    record["function"], record["functionName"], call, refused=bool(record.get("refused"))
                )
            except (ValueError, KeyError, TypeError):
                if report is not None:
                    report.unreadable_lines += 1


# --- checking ----------------------------------------------------------------------------------


def check(
    calls: Iterable[RecordedCall],
    grants: Mapping[str, FunctionGrants],
    report: Report | None = None,
) -> Report:
    report = report if report is not None else Report()
    exercised: dict[str, set[tuple[str, int, str, str]]] = defaultdict(set)
    decisions: dict[tuple[str, str, str, tuple[tuple[str, Any], ...]], Decision] = {}
    denied: Counter[tuple[Any, ...]] = Counter()
    refused: Counter[tuple[Any, ...]] = Counter()
    examples: dict[tuple[Any, ...], tuple[Request, str]] = {}
    unknown_functions: set[str] = set()
    for recorded in calls:
        report.calls += 1
        function = grants.get(recorded.function_name)
        if function is None:
            unknown_functions.add(f"{recorded.function_name} ({recorded.function})")
            continue
        report.functions_run.add(recorded.function_name)
        try:
            requests = accesses(recorded.call)
        except UnknownOperation:
            report.unknown_operations[
                function.label, f"{recorded.call.service}.{recorded.call.operation}"
            ] += 1
            continue
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            report.problems.append(
                f"{function.label}: {recorded.call.service}.{recorded.call.operation} was recorded without "
                f"what its IAM request needs ({type(error).__name__}: {error})"
            )
            continue
        for request in requests:
            report.requests += 1
            key = (function.name, request.action, request.resource, _frozen(request.context))
            decision = decisions.get(key)
            if decision is None:
                decision = decisions[key] = judge(function, recorded.call, request)
                for match in decision.allowed_by:
                    for action in match.actions:
                        for resource in match.resources:
                            exercised[function.name].add(
                                (match.statement.policy, match.statement.index, action, resource)
                            )
            if not decision.allowed:
                operation = f"{recorded.call.service}.{recorded.call.operation}" + (
                    " (presigned)" if recorded.call.presigned else ""
                )
                group = (function.label, request.action, request.resource, operation, _grouped(request))
                denied[group] += 1
                refused[group] += recorded.refused
                examples.setdefault(group, (request, decision.reason))
    report.denials = [
        Denial(group[0], *examples[group], operation=group[3], count=count, refused=refused[group])
        for group, count in sorted(denied.items(), key=lambda item: item[0][:4])
    ]
    report.problems += [
        f"{name}: calls were recorded for a function no deployed stack has"
        for name in sorted(unknown_functions)
    ]
    for function in sorted(grants.values(), key=lambda f: f.label):
        report.problems += [f"{function.label}: {problem}" for problem in function.problems]
        if function.name not in report.functions_run:
            report.not_run.append(function.label)
            continue
        _unused(function, exercised[function.name], report)
    report.problems = list(dict.fromkeys(report.problems))  # once each, however many calls hit it
    return report


def judge(function: FunctionGrants, call: Call, request: Request) -> Decision:
    """One IAM request of one of the function's calls, against its policies, with the global keys
    every request carries. The check after the run and the refusal when a call is made both ask here."""
    context = _with_globals(request, function, call)
    return evaluate(function.all_statements, Request(request.action, request.resource, context))


def _with_globals(request: Request, function: FunctionGrants, call: Call) -> dict[str, ContextValue]:
    return {
        "aws:PrincipalArn": function.role_arn,
        "aws:PrincipalAccount": call.account,
        "aws:RequestedRegion": call.region,
        # Everything the local system deploys is in its one account.
        "aws:ResourceAccount": call.account,
        **request.context,
    }


def _grouped(request: Request) -> tuple[tuple[str, Any], ...]:
    """What tells denials apart in the report: the context without the values that change with every
    order (encryption contexts, recipients)."""
    return _frozen(
        {
            key: value
            for key, value in request.context.items()
            if not key.startswith("kms:EncryptionContext:") and key != "ses:Recipients"
        }
    )


def _frozen(context: Mapping[str, ContextValue]) -> tuple[tuple[str, Any], ...]:
    return tuple(
        sorted(
            (key, tuple(value) if isinstance(value, list | tuple) else value)
            for key, value in context.items()
        )
    )


def _unused(function: FunctionGrants, exercised: set[tuple[str, int, str, str]], report: Report) -> None:
    used_justifications: set[str] = set()
    by_action: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    for statement in function.statements:
        if statement.effect != "Allow":
            continue
        actions = [_negated("NotAction", statement.actions)] if statement.not_action else statement.actions
        resources = (
            [_negated("NotResource", statement.resources)] if statement.not_resource else statement.resources
        )
        for action in actions:
            for resource in resources:
                if _was_exercised(statement.policy, statement.index, action, resource, exercised, statement):
                    continue
                reason = None
                for key, why in function.justifications.items():
                    if _justifies(key, action, resource):
                        reason = why
                        used_justifications.add(key)
                        break
                by_action[statement.policy, action, reason].append(resource)
    # Actions unused on the same resources are one line: a SAM policy template's spare actions.
    by_resources: dict[tuple[str, str | None, tuple[str, ...]], list[str]] = defaultdict(list)
    for (policy, action, reason), resources in by_action.items():
        by_resources[policy, reason, tuple(resources)].append(action)
    for (policy, reason, resources), actions in by_resources.items():
        report.unused.append(UnusedGrant(function.label, policy, tuple(actions), resources, reason))
    report.stale_justifications += [
        f"{function.label}: {key!r}" for key in function.justifications if key not in used_justifications
    ]


def _negated(kind: str, patterns: tuple[str, ...]) -> str:
    return f"{kind} {list(patterns)}"


def _was_exercised(
    policy: str,
    index: int,
    action: str,
    resource: str,
    exercised: set[tuple[str, int, str, str]],
    statement: Statement,
) -> bool:
    if statement.not_action or statement.not_resource:
        # A NotAction or NotResource statement is one grant: used if any request used it.
        return any(p == policy and i == index for p, i, _, _ in exercised)
    return (policy, index, action, resource) in exercised


def _justifies(key: str, action: str, resource: str) -> bool:
    action_pattern, _, resource_pattern = key.partition(" on ")
    return action_matches(action_pattern.strip(), action) and (
        not resource_pattern.strip() or wildcard_matches(resource_pattern.strip(), resource)
    )


def run(directory: Path, repo_root: Path) -> Report:
    """Check what a local system recorded under ORDERFLOW_ACCESS_LOG=`directory`."""
    report = Report()
    grants = from_log(directory, repo_root)
    if not grants:
        report.problems.append(
            f"{directory}: no deployed role was recorded (was the local system started with "
            f"ORDERFLOW_ACCESS_LOG={directory}?)"
        )
    return check(load_calls(directory, report), grants, report)
