"""Prometheus metrics of one run, written atomically for node_exporter's textfile collector."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from ticketbridge.core.model import Observation

if TYPE_CHECKING:
    from ticketbridge.app.run import RunOutcome


def write_metrics(path: Path, observations: Sequence[Observation], outcome: RunOutcome) -> None:
    """Certificates as the run tracked them: the ids of its plan, tickets and audit trail."""
    registry = CollectorRegistry()
    expiry = Gauge(
        "ticketbridge_certificate_expiry_timestamp_seconds",
        "Effective expiry of each tracked certificate (earliest over its endpoints).",
        ["id", "names"],
        registry=registry,
    )
    endpoints = Gauge(
        "ticketbridge_certificate_endpoints",
        "Endpoints serving each tracked certificate.",
        ["id"],
        registry=registry,
    )
    observed = Gauge(
        "ticketbridge_observations",
        "Observations of this run by status.",
        ["status"],
        registry=registry,
    )
    actions = Gauge(
        "ticketbridge_plan_actions",
        "Actions in this run's plan by kind.",
        ["kind"],
        registry=registry,
    )
    failures = Gauge(
        "ticketbridge_apply_failures", "Writes that failed in this run.", registry=registry
    )
    applied = Gauge("ticketbridge_apply_writes", "Writes applied in this run.", registry=registry)
    finished = Gauge(
        "ticketbridge_last_run_timestamp_seconds",
        "When this run finished planning.",
        registry=registry,
    )
    success = Gauge(
        "ticketbridge_last_run_success",
        "1 when every write of the run succeeded.",
        registry=registry,
    )

    for certificate in outcome.inventory.certificates:
        names = ",".join(certificate.names)
        expiry.labels(certificate.id, names).set(certificate.effective_not_after.timestamp())
        endpoints.labels(certificate.id).set(len(certificate.endpoints))
    observed.labels("ok").set(sum(1 for o in observations if o.ok))
    observed.labels("error").set(sum(1 for o in observations if not o.ok))
    for kind, count in outcome.plan.summary.items():
        actions.labels(kind).set(count)
    report = outcome.report
    failures.set(len(report.failures) if report else 0)
    applied.set(report.applied if report else 0)
    finished.set(outcome.plan.generated_at.timestamp())
    success.set(1 if report is None or report.ok else 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
