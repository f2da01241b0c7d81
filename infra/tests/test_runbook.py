"""The runbook (docs/operations.md) cannot drift from the templates: every alarm of every stack has its
entry there, under its stack, and every entry links to a section that says what the alarm means and
what fixes it, with commands that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from orderflow_iac.stacks import REPO_ROOT, SERVICES, templates

from orderflow_local.templates import translate

RUNBOOK = REPO_ROOT / "docs" / "operations.md"
STACKS_SECTION = "### The alarms of each stack"


def stack_of(template: Path) -> str:
    folder = template.resolve().parent
    return "orderflow-infra" if folder.name == "infra" else f"orderflow-{folder.name}"


def alarms_by_stack() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        stack_of(path): {
            name: resource
            for name, resource in translate(path).resources.items()
            if resource["Type"] == "AWS::CloudWatch::Alarm"
        }
        for path in templates()
    }


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def runbook_entries(text: str) -> dict[str, dict[str, str]]:
    """stack -> alarm -> the anchor its entry links to, from the runbook's per-stack tables."""
    section = text.split(STACKS_SECTION, 1)[1].split("\n## ", 1)[0]
    entries: dict[str, dict[str, str]] = {}
    for block in section.split("\n#### ")[1:]:
        stack, _, table = block.partition("\n")
        rows = re.findall(r"^\| `(\w+)` \| \[[^\]]+\]\(#([a-z0-9-]+)\)", table, re.MULTILINE)
        entries[stack.strip()] = dict(rows)
    return entries


def runbook_gaps(alarms: dict[str, dict[str, dict[str, Any]]], text: str) -> list[str]:
    """Every way the runbook text and the templates' alarms disagree."""
    anchors = {slug(heading) for heading in re.findall(r"^#{2,4} (.+)$", text, re.MULTILINE)}
    entries = runbook_entries(text)
    gaps = []
    for stack in sorted(set(alarms) | set(entries)):
        in_templates, in_runbook = set(alarms.get(stack, {})), set(entries.get(stack, {}))
        gaps += [f"{stack}: {alarm} has no runbook entry" for alarm in sorted(in_templates - in_runbook)]
        gaps += [f"{stack}: {alarm} is in the runbook only" for alarm in sorted(in_runbook - in_templates)]
        gaps += [
            f"{stack}: {alarm} links to #{anchor}, which no heading has"
            for alarm, anchor in sorted(entries.get(stack, {}).items())
            if anchor not in anchors
        ]
    return gaps


def test_every_alarm_of_every_stack_has_its_runbook_entry() -> None:
    alarms = alarms_by_stack()
    assert set(alarms) == {f"orderflow-{stack}" for stack in ("infra", *SERVICES)}
    assert runbook_gaps(alarms, RUNBOOK.read_text()) == []


@pytest.mark.parametrize(
    ("change", "gap"),
    [
        # An alarm added to a template without its entry.
        (
            lambda text: text.replace("| `PaymentReconcileFailuresAlarm` |", "| `SomeOtherAlarm` |", 1),
            "orderflow-payments: PaymentReconcileFailuresAlarm has no runbook entry",
        ),
        # An entry under the wrong stack.
        (
            lambda text: text.replace("| `ReservationsOverdueAlarm` |", "| `OrdersStalledAlarm` |", 1),
            "orderflow-inventory: ReservationsOverdueAlarm has no runbook entry",
        ),
        # A section renamed under its links.
        (
            lambda text: text.replace("#### Functions are throttled", "#### Throttles", 1),
            "orderflow-orders: FunctionThrottlesAlarm links to #functions-are-throttled, which no heading "
            "has",
        ),
    ],
)
def test_a_runbook_missing_an_entry_or_its_section_is_caught(change: Any, gap: str) -> None:
    text = RUNBOOK.read_text()
    changed = change(text)
    assert changed != text
    assert gap in runbook_gaps(alarms_by_stack(), changed)


def test_every_alarm_tells_its_stacks_topic_and_points_at_the_runbook() -> None:
    for stack, alarms in alarms_by_stack().items():
        for name, alarm in alarms.items():
            properties = alarm["Properties"]
            assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}], (stack, name)
            assert "docs/operations.md" in properties["AlarmDescription"], (stack, name)


def test_every_make_command_the_runbook_names_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE))
    section = RUNBOOK.read_text().split("## Alarms, dashboards and the runbook", 1)[1]
    # A command, not the word: in backquotes, in a shell substitution or at a line's start.
    named = set(re.findall(r"(?:`|\$\(|^)make (?:-s )?([a-z][a-z0-9-]*)", section, re.MULTILINE))
    assert {"redrive", "redrive-dlq", "reconcile", "deploy", "token"} <= named
    assert named <= targets, named - targets
