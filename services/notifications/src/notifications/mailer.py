"""Sending an email through SES."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notifications.emails import EmailContent
from orderflow_shared.aws import client

_CHARSET = "UTF-8"


class SesMailer:
    def __init__(self, sender: str, configuration_set: str, ses_client: Any = None) -> None:
        self._sender = sender
        # Its event destination has SES report every email it accepts ("Email Sent"), with its tags.
        self._configuration_set = configuration_set
        self._client = ses_client

    def send(self, recipient: str, content: EmailContent, tags: Mapping[str, str]) -> str:
        """Returns the SES message id."""
        ses = self._client or client("ses")
        response = ses.send_email(
            Source=self._sender,
            Destination={"ToAddresses": [recipient]},
            Message={
                "Subject": {"Data": content.subject, "Charset": _CHARSET},
                "Body": {
                    "Text": {"Data": content.text, "Charset": _CHARSET},
                    "Html": {"Data": content.html, "Charset": _CHARSET},
                },
            },
            ConfigurationSetName=self._configuration_set,
            Tags=[{"Name": name, "Value": value} for name, value in tags.items()],
        )
        message_id: str = response["MessageId"]
        return message_id
