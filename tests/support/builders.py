"""Plain builders of observations, inventories and tickets for the reconciler's tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from ticketbridge.core.inventory import Inventory, InventoryPin, build_inventory
from ticketbridge.core.model import (
    MARKER_LABEL,
    CertFacts,
    Endpoint,
    ErrorKind,
    Observation,
    ProbeError,
    StatusCategory,
    Ticket,
    marker_label,
)
from ticketbridge.core.x509facts import tracked_id

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)

WILDCARD = ("*.example.com", "example.com")
WILDCARD_EXPIRY = datetime(2026, 12, 5, 21, 44, 22, tzinfo=UTC)
WWW = ("www.example.com",)
WWW_EXPIRY = datetime(2027, 9, 22, 12, 0, tzinfo=UTC)
RENEWED_EXPIRY = datetime(2027, 12, 1, 21, 44, 22, tzinfo=UTC)

STATUS_CATEGORY: dict[str, StatusCategory] = {
    "To Do": "new",
    "In Progress": "indeterminate",
    "Done": "done",
}


def cert_id(names: Sequence[str]) -> str:
    return tracked_id(sorted({name.lower() for name in names}))


def fingerprint(names: Sequence[str], not_after: datetime) -> str:
    return hashlib.sha256(f"{sorted(names)}|{not_after.isoformat()}".encode()).hexdigest()


def facts(names: Sequence[str], not_after: datetime, common_name: str | None = None) -> CertFacts:
    return CertFacts(
        fingerprint_sha256=fingerprint(names, not_after),
        serial="1",
        subject=f"CN={common_name or names[0]}",
        issuer="CN=Test CA",
        names=tuple(names),
        not_before=not_after - timedelta(days=90),
        not_after=not_after,
        common_name=common_name or names[0],
    )


def endpoint(host: str, address: str, port: int = 443) -> Endpoint:
    return Endpoint(host=host, port=port, address=address, sni=host)


def served(
    host: str, address: str, names: Sequence[str], not_after: datetime, port: int = 443
) -> Observation:
    leaf = facts(names, not_after)
    return Observation(
        endpoint=endpoint(host, address, port),
        observed_at=NOW,
        status="ok",
        certificate=leaf,
        chain=(leaf,),
        effective_not_after=not_after,
    )


def failed(
    host: str, address: str, kind: ErrorKind = ErrorKind.TIMEOUT, port: int = 443
) -> Observation:
    return Observation(
        endpoint=endpoint(host, address, port),
        observed_at=NOW,
        status="error",
        error=ProbeError(kind=kind, message=f"{kind} talking to {address}"),
    )


def inventory(*observations: Observation, pins: Sequence[InventoryPin] = ()) -> Inventory:
    return build_inventory(observations, pins)


def ticket(
    key: str,
    summary: str = "Renew TLS certificate",
    *,
    due: date | None = None,
    labels: Sequence[str] = (),
    status: str = "To Do",
    created: datetime | None = None,
    priority: str | None = None,
    assignee: str | None = None,
    tracked: Sequence[str] = (),
    resolved_at: datetime | None = None,
) -> Ticket:
    category = STATUS_CATEGORY[status]
    return Ticket(
        key=key,
        summary=summary,
        status=status,
        status_category=category,
        created=created or NOW - timedelta(days=30),
        due_date=due,
        labels=tuple(labels),
        priority=priority,
        assignee=assignee,
        resolved_at=resolved_at or (NOW - timedelta(days=1) if category == "done" else None),
        tracked_endpoints=tuple(tracked),
    )


def markers(names: Sequence[str]) -> tuple[str, str]:
    return (MARKER_LABEL, marker_label(cert_id(names)))


def incident(*, stale_node: bool = False) -> Inventory:
    """The outage: the wildcard on app and api expires in days; www moved to its own cert."""
    observations = [
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        served("api.example.com", "192.0.2.11", WILDCARD, WILDCARD_EXPIRY),
        served("www.example.com", "192.0.2.20", WWW, WWW_EXPIRY),
    ]
    if stale_node:
        # Two nodes got the renewal; the third still serves the old wildcard.
        observations[:2] = [
            served("app.example.com", "192.0.2.10", WILDCARD, RENEWED_EXPIRY),
            served("api.example.com", "192.0.2.11", WILDCARD, RENEWED_EXPIRY),
        ]
        observations.append(served("app.example.com", "192.0.2.12", WILDCARD, WILDCARD_EXPIRY))
    return inventory(*observations)
