"""The plan's quantity fields: a duration or a size written as people write them
(``30s``, ``2m``, ``1MB``), validated by the parsers in checks/units.py."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from checks.units import parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A duration in seconds, written in the plan as ``30s``, ``2m``, ``500ms`` or a number."""

ByteSize = Annotated[int, BeforeValidator(parse_size)]
"""A size in bytes, written in the plan as ``1MB``, ``512KB`` or a number of bytes."""
