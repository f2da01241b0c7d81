"""SES fixes: configuration sets that publish to EventBridge, and the "Email Sent" events they publish."""

from __future__ import annotations

import datetime
import json
import logging
import re
import weakref
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any, Final, cast
from urllib.parse import unquote

from orderflow_local.moto_compat._base import Fix, _original, _Patch

# isort: split
# The internals below are imported only once the version is known to match.
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.events.models import EventsBackend, events_backends
from moto.ses.exceptions import ConfigurationSetDoesNotExist, InvalidParameterValue
from moto.ses.models import SESBackend
from moto.ses.responses import EmailResponse
from moto.sesv2 import urls as sesv2_urls
from moto.sesv2.responses import SESV2Response

logger = logging.getLogger(__name__)

# SES v2 spells the event types in capitals; v1 (and CloudFormation) in camel case.
_SEND: Final = "SEND"
_EMAIL_SENT_SOURCE: Final = "aws.ses"
_EMAIL_SENT_DETAIL_TYPE: Final = "Email Sent"
_DEFAULT_BUS: Final = re.compile(r"arn:aws[a-z0-9-]*:events:[a-z0-9-]+:\d{12}:event-bus/default")
_EVENT_DESTINATIONS_PATH: Final = re.compile(r"/v2/email/configuration-sets/([^/]+)/event-destinations/?$")
_EVENT_DESTINATIONS_ROUTE: Final = (
    "{0}/v2/email/configuration-sets/(?P<ConfigurationSetName>[^/]+)/event-destinations$"
)
# What SES accepts as a message tag's name and value.
_TAG_TEXT: Final = re.compile(r"[A-Za-z0-9_-]{1,255}")

# Configuration set -> destination name -> the destination as the v2 API describes it, per SES
# backend (and forgotten with it) rather than as an attribute moto does not know about.
_event_destinations: Final[weakref.WeakKeyDictionary[SESBackend, dict[str, dict[str, dict[str, Any]]]]] = (
    weakref.WeakKeyDictionary()
)


class _SesV2Error(ServiceException):
    """An error of the SES v2 API; moto serialises it with the status the API model gives its code."""


# --------------------------------------------------------------------------------------------
# Fix 12: configuration set event destinations through the SES v2 API.
# --------------------------------------------------------------------------------------------


class ConfigurationSetEventDestinations(Fix):
    """Implement the SES v2 API's CreateConfigurationSetEventDestination and
    GetConfigurationSetEventDestinations.

    moto gap: neither exists (in-process moto raises ``NotImplementedError``; the server has no
    route for the path and answers HTTP 404), and the v1 API cannot name an EventBridge destination
    at all, so a configuration set can never be told to publish to EventBridge. CloudFormation's
    ``AWS::SES::ConfigurationSetEventDestination`` uses the v2 API.

    AWS: ``POST /v2/email/configuration-sets/{name}/event-destinations`` with
    ``{"EventDestinationName", "EventDestination"}`` adds a destination to the set (``Enabled``
    false unless given; ``MatchingEventTypes`` such as ``SEND``; exactly one of the SNS, Firehose,
    CloudWatch, Pinpoint or EventBridge destinations; EventBridge only to the default bus).
    ``NotFoundException`` for a set that does not exist, ``AlreadyExistsException`` for a
    destination name the set already has. ``GET`` on the same path lists the set's destinations
    with their ``Name``.

    The destinations are kept beside moto's SES backend, where ``EmailSentEvents`` reads them; the
    server gets a route for the path (its catch-all ``/v2/.*`` is a literal path to the server).
    Not covered: updating or deleting a destination; a destination whose set is deleted is not
    forgotten; a non-default bus is refused with ``BadRequestException`` (AWS's exact answer was
    not verified).

    Drop when moto implements the v2 event destination API
    (``test_event_destinations_are_not_implemented_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        def _create(self: SESV2Response) -> str:
            backend = self.sesv2_backend.core_backend
            set_name = _configuration_set_in_path(self.path)
            request = json.loads(self.body or "{}")
            destinations = _destinations_of(backend, set_name)
            name = request.get("EventDestinationName") or ""
            if not _TAG_TEXT.fullmatch(name) or len(name) > 64:
                raise _SesV2Error("BadRequestException", f"Invalid event destination name {name!r}")
            if name in destinations:
                raise _SesV2Error(
                    "AlreadyExistsException", f"Event destination {name} already exists in {set_name}"
                )
            destinations[name] = _destination(request.get("EventDestination") or {})
            return "{}"

        def _get(self: SESV2Response) -> str:
            set_name = _configuration_set_in_path(self.path)
            destinations = _destinations_of(self.sesv2_backend.core_backend, set_name)
            listed = [{"Name": name, **destination} for name, destination in destinations.items()]
            return json.dumps({"EventDestinations": listed})

        # The server builds each service's routes from its urls module when the service is first
        # called, so the route must be in place before that (apply() comes before the server).
        routes = {**sesv2_urls.url_paths, _EVENT_DESTINATIONS_ROUTE: SESV2Response.dispatch}
        return [
            (SESV2Response, "create_configuration_set_event_destination", _create),
            (SESV2Response, "get_configuration_set_event_destinations", _get),
            (cast(type, sesv2_urls), "url_paths", cast(Any, routes)),
        ]


def _configuration_set_in_path(path: str) -> str:
    match = _EVENT_DESTINATIONS_PATH.search(path)
    if match is None:
        raise _SesV2Error("BadRequestException", f"No configuration set in {path}")
    return unquote(match.group(1))


def _destinations_of(backend: SESBackend, set_name: str) -> dict[str, dict[str, Any]]:
    if set_name not in backend.config_sets:
        raise _SesV2Error("NotFoundException", f"Configuration set <{set_name}> does not exist.")
    return _event_destinations.setdefault(backend, {}).setdefault(set_name, {})


_DESTINATION_KINDS: Final = (
    "SnsDestination",
    "KinesisFirehoseDestination",
    "CloudWatchDestination",
    "PinpointDestination",
    "EventBridgeDestination",
)


def _destination(requested: dict[str, Any]) -> dict[str, Any]:
    kinds = [kind for kind in _DESTINATION_KINDS if kind in requested]
    if len(kinds) != 1:
        raise _SesV2Error("BadRequestException", "An event destination needs exactly one destination")
    if not requested.get("MatchingEventTypes"):
        raise _SesV2Error("BadRequestException", "MatchingEventTypes must not be empty")
    bus = requested.get("EventBridgeDestination", {}).get("EventBusArn")
    if bus is not None and not _DEFAULT_BUS.fullmatch(bus):
        raise _SesV2Error("BadRequestException", f"Only the default event bus is supported, not {bus}")
    return {
        "Enabled": bool(requested.get("Enabled", False)),
        "MatchingEventTypes": list(requested["MatchingEventTypes"]),
        kinds[0]: requested[kinds[0]],
    }


# --------------------------------------------------------------------------------------------
# Fix 13: an email sent with a configuration set publishes "Email Sent" to EventBridge.
# --------------------------------------------------------------------------------------------


class EmailSentEvents(Fix):
    """Publish SES's "Email Sent" event when SendEmail names a configuration set with an enabled
    EventBridge destination for ``SEND``.

    moto gap: SendEmail ignores ``ConfigurationSetName`` and ``Tags``: it sends with a set that
    does not exist, accepts tags SES refuses, and never publishes any event, so a rule on
    ``{"source": ["aws.ses"]}`` receives nothing.

    AWS: SendEmail with a configuration set that does not exist fails with
    ``ConfigurationSetDoesNotExist``; a message tag whose name or value is not 1-255 ASCII
    letters, digits, ``_`` or ``-`` fails with ``InvalidParameterValue``. Once SES has accepted an
    email, each enabled EventBridge destination of its set that matches ``SEND`` receives an event
    on the account's default bus (best effort): ``source`` ``aws.ses``, ``detail-type``
    ``Email Sent``, ``detail`` ``{"eventType": "Send", "mail": {...}, "send": {}}`` where
    ``mail`` has ``timestamp`` (ISO 8601, milliseconds), ``source``, ``sourceArn``,
    ``sendingAccountId``, ``messageId``, ``destination`` (every recipient), ``headersTruncated``,
    ``headers``, ``commonHeaders`` (``from``, ``to``, ``messageId``, ``subject``) and ``tags``:
    every tag as a list of values, SES's own (``ses:configuration-set``, ``ses:from-domain``,
    ``ses:source-ip``) and the message tags of the request.

    The fix publishes through moto's events backend of the account and region, right after moto
    accepted the email and before SendEmail answers (AWS publishes a moment later), with
    ``resources`` ``[the configuration set's ARN]``. Not covered: SendRawEmail, the templated
    sends and the v2 SendEmail publish nothing; no other event type (delivery, bounce, ...) is
    published; ``ses:caller-identity`` and ``ses:outgoing-ip`` are not among the tags, and the
    headers are From, To, Cc, Subject and MIME-Version only.

    Drop when moto publishes SES events itself
    (``test_no_email_sent_event_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        send_email = _original(EmailResponse, "send_email")
        # AWS delivers these outside the account's PutEvents quota: publish through moto's own
        # put_events as it is now, so that a later stand-in for PutEvents throttling leaves them be.
        put_events: Callable[[EventsBackend, list[dict[str, Any]]], list[dict[str, Any]]] = (
            EventsBackend.put_events
        )

        def _send_email(self: EmailResponse) -> ActionResult:
            set_name: str | None = self._get_param("ConfigurationSetName")
            tags = _message_tags(self._get_param("Tags") or [])
            if set_name is not None and set_name not in self.backend.config_sets:
                raise ConfigurationSetDoesNotExist(f"Configuration set <{set_name}> does not exist.")
            result: ActionResult = send_email(self)
            if set_name is not None:
                _publish_email_sent(self, set_name, tags, _message_id(result), put_events)
            return result

        return [(EmailResponse, "send_email", _send_email)]


def _message_tags(requested: list[dict[str, Any]]) -> dict[str, str]:
    tags = {}
    for tag in requested:
        name, value = str(tag.get("Name", "")), str(tag.get("Value", ""))
        for text in (name, value):
            if not _TAG_TEXT.fullmatch(text):
                raise InvalidParameterValue(
                    f"Invalid tag {name!r}={value!r}: use 1-255 ASCII letters, digits, '_' or '-'"
                )
        tags[name] = value
    return tags


def _message_id(result: ActionResult) -> str:
    message_id: str = result.result["MessageId"]  # type: ignore[index]
    return message_id


def _publish_email_sent(
    response: EmailResponse,
    set_name: str,
    tags: dict[str, str],
    message_id: str,
    put_events: Callable[[EventsBackend, list[dict[str, Any]]], list[dict[str, Any]]],
) -> None:
    backend = response.backend
    destinations = _event_destinations.get(backend, {}).get(set_name, {})
    wanted = [
        destination
        for destination in destinations.values()
        if destination["Enabled"]
        and "EventBridgeDestination" in destination
        and _SEND in destination["MatchingEventTypes"]
    ]
    if not wanted:
        return
    # Best effort, as on AWS: the email is sent whatever becomes of its event.
    try:
        sent_at = datetime.datetime.now(tz=datetime.UTC)
        detail = _send_detail(response, backend, set_name, tags, message_id, sent_at)
        entry = {
            "Source": _EMAIL_SENT_SOURCE,
            "DetailType": _EMAIL_SENT_DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "Resources": [
                f"arn:aws:ses:{backend.region_name}:{backend.account_id}:configuration-set/{set_name}"
            ],
            # moto's events backend takes the event time as epoch seconds.
            "Time": sent_at.timestamp(),
        }
        events = events_backends[backend.account_id][backend.region_name]
        for _ in wanted:
            (published,) = put_events(events, [entry])
            if "ErrorCode" in published:
                logger.error("Email Sent event of %s not published: %s", message_id, published)
    except Exception:
        logger.exception("Email Sent event of %s not published", message_id)


def _send_detail(
    response: EmailResponse,
    backend: SESBackend,
    set_name: str,
    tags: dict[str, str],
    message_id: str,
    sent_at: datetime.datetime,
) -> dict[str, Any]:
    source: str = response._get_param("Source")
    destination: dict[str, list[str]] = response._get_param("Destination") or {}
    subject: str = response._get_param("Message.Subject.Data") or ""
    to, cc = destination.get("ToAddresses", []), destination.get("CcAddresses", [])
    recipients = [*to, *cc, *destination.get("BccAddresses", [])]
    _, address = parseaddr(source)
    domain = address.rpartition("@")[2]
    # SES authorises the send with the address's identity if verified, else its domain's.
    identity = address if address in backend.email_identities else domain
    headers = [
        {"name": "From", "value": source},
        {"name": "To", "value": ", ".join(to)},
        *([{"name": "Cc", "value": ", ".join(cc)}] if cc else []),
        {"name": "Subject", "value": subject},
        {"name": "MIME-Version", "value": "1.0"},
    ]
    common_headers: dict[str, Any] = {"from": [source], "to": to, "messageId": message_id, "subject": subject}
    if cc:
        common_headers["cc"] = cc
    return {
        "eventType": "Send",
        "mail": {
            "timestamp": sent_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "source": source,
            "sourceArn": f"arn:aws:ses:{backend.region_name}:{backend.account_id}:identity/{identity}",
            "sendingAccountId": backend.account_id,
            "messageId": message_id,
            "destination": recipients,
            "headersTruncated": False,
            "headers": headers,
            "commonHeaders": common_headers,
            "tags": {
                "ses:configuration-set": [set_name],
                "ses:source-ip": ["127.0.0.1"],
                "ses:from-domain": [domain],
                **{name: [value] for name, value in tags.items()},
            },
        },
        "send": {},
    }
