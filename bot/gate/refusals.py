"""Why the gate did not take an action: said to the person, privately, in plain words."""

from __future__ import annotations


class Refused(Exception):
    """An action the person may not take; the message says why (shown privately)."""


class TooSlow(Refused):
    """Authorising took longer than the caller could wait (a chat platform's ack window):
    nothing was recorded, and the person may simply try again."""
