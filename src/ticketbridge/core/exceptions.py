"""Accepted risk: `[[exceptions]]` entries, and where each stands this run (active, ended, unmatched).

An exception is approved and time-boxed: while it is active its certificate is reported, not
ticketed or paged; after `until` the certificate is handled as usual and the plan says the
exception ended; an exception that names no certificate seen this run is reported, so a typo
never silently covers nothing. Pure: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from ticketbridge.core.model import TrackedCert
from ticketbridge.core.policy import Policy, local_date
from ticketbridge.core.x509facts import canonical_name


@dataclass(frozen=True, slots=True)
class RiskException:
    """One `[[exceptions]]` entry: which certificate (its name set, or its id), why, who, until."""

    reason: str
    approved_by: str
    until: date
    names: tuple[str, ...] = ()
    id: str | None = None

    @property
    def canonical(self) -> tuple[str, ...]:
        """The name set as tracked certificates are keyed (lower case, de-duplicated, sorted)."""
        return tuple(sorted({canonical_name(name) for name in self.names} - {""}))

    @property
    def label(self) -> str:
        return f"id {self.id}" if self.id else ", ".join(self.canonical)

    def covers(self, cert: TrackedCert) -> bool:
        """By id when it names one, else by the whole name set: `example.com` alone never
        covers the wildcard certificate that also names it."""
        if self.id:
            return cert.id == self.id
        return bool(self.names) and cert.names == self.canonical


class Standing(StrEnum):
    """Where an exception stands on the policy's calendar and against what was served."""

    ACTIVE = "active"  # in its window and covering a certificate seen this run
    ENDED = "ended"  # past `until`: its certificates are handled as usual again
    UNMATCHED = "unmatched"  # in its window but covering nothing seen this run


@dataclass(frozen=True, slots=True)
class ExceptionStanding:
    """One exception this run: its standing and the certificates (ids, names) it covers."""

    exception: RiskException
    standing: Standing
    certificate_ids: tuple[str, ...] = ()
    certificate_names: tuple[tuple[str, ...], ...] = ()

    @property
    def note(self) -> str:
        """One line for a plan: what the exception does this run."""
        entry = self.exception
        until = entry.until.isoformat()
        if self.standing is Standing.ACTIVE:
            return (
                f"accepted risk until {until}, approved by {entry.approved_by}: "
                f"{entry.reason}; no ticket, no page"
            )
        if self.standing is Standing.ENDED:
            return f"exception ended {until}; handled as usual again"
        return f"names no certificate observed this run ({entry.label}); it covers nothing"

    def as_dict(self) -> dict[str, Any]:
        entry = self.exception
        return {
            "standing": str(self.standing),
            "names": list(entry.names),
            "id": entry.id,
            "reason": entry.reason,
            "approved_by": entry.approved_by,
            "until": entry.until.isoformat(),
            "certificates": list(self.certificate_ids),
            "note": self.note,
        }


def exception_standings(
    exceptions: Iterable[RiskException],
    certs: Mapping[str, TrackedCert],
    policy: Policy,
    now: datetime,
) -> tuple[ExceptionStanding, ...]:
    """Each exception's standing: `until` is the last day it holds, in the policy's time zone."""
    today = local_date(now, policy)
    standings = []
    for entry in exceptions:
        covered = [certs[cert_id] for cert_id in sorted(certs) if entry.covers(certs[cert_id])]
        if today > entry.until:
            standing = Standing.ENDED
        elif covered:
            standing = Standing.ACTIVE
        else:
            standing = Standing.UNMATCHED
        standings.append(
            ExceptionStanding(
                exception=entry,
                standing=standing,
                certificate_ids=tuple(cert.id for cert in covered),
                certificate_names=tuple(cert.names for cert in covered),
            )
        )
    return tuple(standings)


def excepted_ids(standings: Iterable[ExceptionStanding]) -> frozenset[str]:
    """The certificates no ticket is created for and no page sent about this run."""
    return frozenset(
        cert_id
        for standing in standings
        if standing.standing is Standing.ACTIVE
        for cert_id in standing.certificate_ids
    )
