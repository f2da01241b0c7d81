"""EventBridge fixes: what a target receives and which rules an event can match."""

from __future__ import annotations

from typing import Any

from orderflow_local.moto_compat._base import Fix, _original, _Patch

# isort: split
# The internals below are imported only once the version is known to match.
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser

# --------------------------------------------------------------------------------------------
# Fix 7: events delivered to targets carry the account.
# --------------------------------------------------------------------------------------------


class DeliveredEventsCarryAccount(Fix):
    """Keep ``account`` in the event that EventBridge delivers to a target.

    moto gap: ``EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE`` (used for every target without
    an InputTransformer) lists every envelope field but ``account``, so an SQS target receives
    events with no ``account`` and Powertools' ``EventBridgeModel`` rejects them.

    AWS: a rule target without an input transformer receives the whole event, ``account``
    included.

    Drop when moto's default template includes ``account``
    (``test_delivered_events_lack_the_account_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
        if '"account"' in template:
            return []
        fixed = template.replace('"version": "0",', '"version": "0", "account": "<account>",', 1)
        return [(EventTemplateParser, "DEFAULT_EVENT_INPUT_TEMPLATE", fixed)]  # type: ignore[list-item]


# --------------------------------------------------------------------------------------------
# Fix 10: a rule with only a schedule matches no event.
# --------------------------------------------------------------------------------------------


class ScheduleOnlyRulesMatchNoEvents(Fix):
    """Keep events put on a bus away from rules that have a ScheduleExpression and no EventPattern.

    moto gap: ``Rule.send_to_targets`` matches each event against the rule's EventPattern, and an
    absent pattern matches everything, so a schedule-only rule receives every event put on its bus
    (the default bus). With ``ExecutionStatusChangeEvents`` that is every execution status
    change: each one lands in every scheduled queue (reconciliation, sweeps, ...) as a bogus tick.

    AWS: a rule with only a ScheduleExpression fires on its schedule and matches no event; a rule
    with both a ScheduleExpression and an EventPattern also receives the events its pattern
    matches. (moto never fires schedules at all: ``orderflow_local.scheduler`` does.)

    Drop when moto skips schedule-only rules when routing events
    (``test_a_schedule_only_rule_receives_every_event_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        send_to_targets = _original(Rule, "send_to_targets")

        def _send_to_targets(self: Rule, *args: Any, **kwargs: Any) -> None:
            if self.scheduled_expression and not self.event_pattern.get_pattern():
                return
            send_to_targets(self, *args, **kwargs)

        return [(Rule, "send_to_targets", _send_to_targets)]
