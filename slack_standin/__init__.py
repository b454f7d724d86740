"""A local Slack stand-in for tests and the demo: a real HTTP server that plays Slack.

See ``SlackStandIn`` (server.py) for the public API; ``python -m slack_standin`` runs it.
"""

from slack_standin.driver import Delivery
from slack_standin.limits import SlackError, validate_message, validate_view
from slack_standin.responses import RecordedResponse
from slack_standin.sender import sign
from slack_standin.server import RecordedCall, SlackStandIn
from slack_standin.workspace import Channel, Message, User, View, Workspace

__all__ = [
    "Channel",
    "Delivery",
    "Message",
    "RecordedCall",
    "RecordedResponse",
    "SlackError",
    "SlackStandIn",
    "User",
    "View",
    "Workspace",
    "sign",
    "validate_message",
    "validate_view",
]
