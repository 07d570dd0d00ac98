"""The filters people reach for on `scan` and `tickets`, applied once so every output format agrees."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ticketbridge.app.gather import ScanResult
from ticketbridge.core.inventory import Inventory
from ticketbridge.core.model import Observation, Ticket, TrackedCert


def _matches(pattern: str, texts: Iterable[str]) -> bool:
    """A shell-style pattern (`*.example.com`, `api*`), case-insensitive, against whole names; a
    pattern without wildcards also matches as a substring, as people type part of a name."""
    lowered = pattern.lower()
    wild = any(character in lowered for character in "*?[")
    for text in texts:
        candidate = text.lower()
        if fnmatch.fnmatchcase(candidate, lowered) or (not wild and lowered in candidate):
            return True
    return False


@dataclass(frozen=True, slots=True)
class ScanFilter:
    """`--expiring-within DAYS`, `--name PATTERN`, `--untrusted`; all given must hold."""

    expiring_within_days: int | None = None
    name: str | None = None
    untrusted: bool = False

    @property
    def active(self) -> bool:
        return self.expiring_within_days is not None or bool(self.name) or self.untrusted

    def selects(self, certificate: TrackedCert, now: datetime) -> bool:
        if self.expiring_within_days is not None and certificate.effective_not_after > now + (
            timedelta(days=self.expiring_within_days)
        ):
            return False
        if self.name and not _matches(
            self.name, (*certificate.names, *(e.host for e in certificate.endpoints))
        ):
            return False
        return not self.untrusted or _untrusted(certificate)

    def selects_failure(self, observation: Observation) -> bool:
        """An endpoint that could not be observed has no expiry and no verdict: it is listed
        only when the filters ask about names alone."""
        if self.expiring_within_days is not None or self.untrusted:
            return False
        return not self.name or _matches(self.name, (observation.endpoint.host,))

    def apply(self, result: ScanResult, now: datetime) -> ScanResult:
        if not self.active:
            return result
        certificates = tuple(c for c in result.inventory.certificates if self.selects(c, now))
        failures = tuple(o for o in result.inventory.unobserved if self.selects_failure(o))
        # By endpoint, not identity: a shard's scan stamps its observations with the scanner.
        kept = {o.endpoint for c in certificates for o in c.observations}
        kept |= {o.endpoint for o in failures}
        return replace(
            result,
            observations=tuple(o for o in result.observations if o.endpoint in kept),
            inventory=Inventory(certificates=certificates, unobserved=failures),
        )


def _untrusted(certificate: TrackedCert) -> bool:
    """Any endpoint whose served chain a client would refuse (untrusted or wrong host)."""
    return any(
        o.verification is not None
        and not (o.verification.trusted and o.verification.hostname_match)
        for o in certificate.observations
    )


def filter_tickets(
    tickets: Sequence[Ticket], *, due_within_days: int | None, name: str | None, now: datetime
) -> list[Ticket]:
    """Tickets due within DAYS (overdue included) whose summary, tracked endpoints or
    certificate id match the pattern."""
    selected = []
    for ticket in tickets:
        if due_within_days is not None and (
            ticket.due_date is None
            or ticket.due_date > (now + timedelta(days=due_within_days)).date()
        ):
            continue
        words = ticket.summary.split()  # a summary is prose: the pattern matches one of its words
        texts = (*words, ticket.key, *ticket.tracked_endpoints, *ticket.marker_ids)
        if name and not _matches(name, texts):
            continue
        selected.append(ticket)
    return selected
