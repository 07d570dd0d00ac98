"""The one reading of the wall clock; everything below the shell takes `now` as an argument."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Timezone-aware UTC now, to the microsecond."""
    return datetime.now(UTC)


def utcnow_seconds() -> datetime:
    """Timezone-aware UTC now, to the second: what observations and plans record."""
    return datetime.now(UTC).replace(microsecond=0)
