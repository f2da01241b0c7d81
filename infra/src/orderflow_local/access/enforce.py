"""Refusing a call its role does not allow when it is made, as AWS would.

moto enforces no IAM. With ``ORDERFLOW_ACCESS_LOG`` set, each function's process holds the policies
of its own role as the provisioner deployed them (``<dir>/iam/``, all written before any function
starts) and judges every AWS call it makes before it is sent: each IAM request of the call
(``calls.accesses``) is evaluated with the same global keys as in the check after the run
(``check.judge``). One request denied, and the call fails as AWS fails it: ``AccessDeniedException``
(``AccessDenied``, 403, from S3) with AWS's message, nothing sent. The recording hook writes it as
refused, and the check after the run reports it as denied.

A call whose resource only its answer names (``calls.named_by_the_answer``: a secret read by name,
KMS by an alias or Decrypt; none of them changes anything) is judged once answered, and a refused
one gets the refusal instead of the answer.

Left to the check after the run: presigned URLs (signing one calls nothing; the download is S3's to
refuse), operations without an IAM mapping and the calls of a function whose grants cannot be known
(both fail the check).

``client_as`` gives a test the same judge: a client of the local AWS whose calls are refused as a
named function's would be.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderflow_local.access import recording
from orderflow_local.access.calls import Call, UnknownOperation, accesses
from orderflow_local.access.check import judge
from orderflow_local.access.evaluate import Request
from orderflow_local.access.policies import FunctionGrants, from_log, load_iam_records, role_grants
from orderflow_local.settings import ACCOUNT_ID, local_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """What AWS answers a call one of whose IAM requests the caller's policies do not allow."""

    service: str  # the boto3 client name
    operation: str
    request: Request  # the first request refused
    explicit: bool  # refused by a Deny statement, not for want of an Allow
    principal: str  # the caller as AWS names it: the role's session

    @property
    def code(self) -> str:
        return "AccessDenied" if self.service == "s3" else "AccessDeniedException"

    @property
    def status(self) -> int:
        return 403 if self.service == "s3" else 400

    @property
    def message(self) -> str:
        action = self.request.action
        why = (
            "with an explicit deny in an identity-based policy"
            if self.explicit
            else f"because no identity-based policy allows the {action} action"
        )
        return (
            f"User: {self.principal} is not authorized to perform: {action} "
            f"on resource: {self.request.resource} {why}"
        )

    def answer(self) -> dict[str, Any]:
        """The parsed answer botocore raises a ClientError from."""
        return {
            "Error": {"Code": self.code, "Message": self.message},
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }


class Guard:
    """Judges one function's calls against its role's policies."""

    def __init__(self, grants: FunctionGrants) -> None:
        self.grants = grants
        role_name = grants.role_arn.rsplit("/", 1)[-1]
        # Lambda's session for the role is named after the function; AWS names the caller so.
        self.principal = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{grants.name}"

    def refusal(self, call: Call) -> Refusal | None:
        """Why AWS would refuse the call, or None when every request it makes is allowed (or when it
        cannot be judged here: the check after the run fails on that)."""
        try:
            requests = accesses(call)
        except (UnknownOperation, KeyError, TypeError, AttributeError, ValueError):
            return None
        for request in requests:
            decision = judge(self.grants, call, request)
            if not decision.allowed:
                return Refusal(
                    call.service, call.operation, request, bool(decision.denied_by), self.principal
                )
        return None


def guard_of_role(directory: Path, function: str, function_name: str, role_arn: str) -> Guard | None:
    """The guard of a function whose process records under ``directory``, from its role's policies as
    deployed; None (nothing refused) when they cannot be known, which the check reports."""
    grants = role_grants(function, function_name, role_arn, load_iam_records(directory))
    if grants.problems:
        logger.warning("%s: calls are not refused when made: %s", function_name, "; ".join(grants.problems))
        return None
    return Guard(grants)


def client_as(function: str, service: str, endpoint_url: str, access_log: Path, repo_root: Path) -> Any:
    """A boto3 client of the local AWS at ``endpoint_url`` acting with ``function``'s credentials: its
    calls are judged, and refused, against that function's role exactly as the function's own are.

    ``function`` is a function's logical id (``CustomerAlertsFunction``), its physical name, or
    ``<stack>.<logical id>``; ``access_log`` is the running system's ``ORDERFLOW_ACCESS_LOG``. Its calls
    are not recorded: they are the caller's, not the function's, and exercise none of its grants.
    """
    found = [
        grants
        for grants in from_log(access_log, repo_root).values()
        if function in (grants.logical_id, grants.name, grants.label)
    ]
    if len(found) != 1:
        raise LookupError(f"{function}: {len(found)} deployed functions go by that name")
    guard = guard_of_role(access_log, found[0].logical_id, found[0].name, found[0].role_arn)
    if guard is None:
        raise LookupError(f"{function}: its role's grants cannot be known")
    client = local_client(service, endpoint_url)
    recording.hook_events(client.meta.events, None, guard)
    return client
