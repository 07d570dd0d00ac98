"""A page event as the planner makes one, for the alert sink tests."""

from __future__ import annotations

from datetime import UTC, datetime

from ticketbridge.core.plan import CertificateSummary, PageEvent

CERTIFICATE = CertificateSummary(
    id="0123456789abcdef",
    names=("*.example.com", "example.com"),
    effective_not_after=datetime(2026, 12, 5, 21, 44, 22, tzinfo=UTC),
    fingerprints=("ab" * 32,),
    endpoints=("api.example.com:443@192.0.2.11",),
)
TRIGGER = PageEvent(
    event="trigger",
    dedup_key=CERTIFICATE.id,
    summary="*.example.com expires 2026-12-05T21:44:22Z (in 2 days); renewal ticket OPS-12",
    certificate=CERTIFICATE,
    ticket="OPS-12",
    ticket_url="https://jira.example.com/browse/OPS-12",
)
