"""The one timestamp format of ticketbridge: UTC ISO 8601 with `Z`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Precision = Literal["seconds", "milliseconds", "microseconds"]


def iso_z(moment: datetime, precision: Precision = "seconds") -> str:
    """`2026-11-29T04:10:00Z`: every JSON shape, record and log line (finer where order matters)."""
    return moment.astimezone(UTC).isoformat(timespec=precision).removesuffix("+00:00") + "Z"
