"""Prometheus metrics of one run, written atomically for node_exporter's textfile collector.

What people alert on: days left per certificate and (for the soonest endpoints) per endpoint,
the verdict, a renewal live on only some endpoints, the last successful run, the run's
duration, writes and failures. Labels are bounded: one series per tracked certificate, at most
`MAX_ENDPOINT_SERIES` endpoint series, error kinds from a fixed list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from ticketbridge.core.model import Observation, TrackedCert

if TYPE_CHECKING:
    from ticketbridge.app.run import RunOutcome

DAY = 86400.0
MAX_ENDPOINT_SERIES = 1000  # the soonest-expiring endpoints; the rest are counted, not listed
MAX_LABEL_LENGTH = 200
LAST_SUCCESS = "ticketbridge_last_success_timestamp_seconds"


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_LABEL_LENGTH else text[: MAX_LABEL_LENGTH - 1] + "…"


def previous_success(path: Path) -> float | None:
    """The last success the file recorded, carried over a run that failed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(rf"^{LAST_SUCCESS} (\S+)$", text, re.MULTILINE)
    try:
        return float(found.group(1)) if found else None
    except ValueError:
        return None


def _verified(certificate: TrackedCert) -> bool:
    seen = [o.verification for o in certificate.observations if o.verification is not None]
    return bool(seen) and all(v.trusted and v.hostname_match for v in seen)


def _endpoint_expiries(certificate: TrackedCert) -> list[tuple[str, datetime]]:
    return [
        (o.endpoint.label, o.effective_not_after)
        for o in certificate.observations
        if o.ok and o.effective_not_after is not None
    ]


def _certificate_series(
    registry: CollectorRegistry, certificates: Sequence[TrackedCert], now: datetime
) -> None:
    expiry = Gauge(
        "ticketbridge_certificate_expiry_timestamp_seconds",
        "Effective expiry of each tracked certificate (earliest over its endpoints).",
        ["id", "names"],
        registry=registry,
    )
    days_left = Gauge(
        "ticketbridge_certificate_days_left",
        "Days until each tracked certificate's effective expiry (negative once expired).",
        ["id", "name"],
        registry=registry,
    )
    endpoints = Gauge(
        "ticketbridge_certificate_endpoints",
        "Endpoints serving each tracked certificate.",
        ["id"],
        registry=registry,
    )
    verified = Gauge(
        "ticketbridge_certificate_verified",
        "1 when every endpoint serving the certificate passed verification (trusted, name match).",
        ["id"],
        registry=registry,
    )
    spread = Gauge(
        "ticketbridge_certificate_expiry_spread_seconds",
        "Latest minus earliest expiry over the endpoints serving one certificate: above zero, "
        "a renewal is live on only some of them.",
        ["id"],
        registry=registry,
    )
    for certificate in certificates:
        left = (certificate.effective_not_after - now).total_seconds() / DAY
        expiry.labels(certificate.id, _clipped(",".join(certificate.names))).set(
            certificate.effective_not_after.timestamp()
        )
        days_left.labels(certificate.id, _clipped(certificate.names[0])).set(round(left, 3))
        endpoints.labels(certificate.id).set(len(certificate.endpoints))
        verified.labels(certificate.id).set(1 if _verified(certificate) else 0)
        seen = [when.timestamp() for _, when in _endpoint_expiries(certificate)]
        spread.labels(certificate.id).set(max(seen) - min(seen) if seen else 0)


def _endpoint_series(
    registry: CollectorRegistry, certificates: Sequence[TrackedCert], now: datetime
) -> None:
    days_left = Gauge(
        "ticketbridge_endpoint_days_left",
        f"Days until the chain served at an endpoint expires (the {MAX_ENDPOINT_SERIES} soonest).",
        ["id", "endpoint"],
        registry=registry,
    )
    unlisted = Gauge(
        "ticketbridge_endpoint_series_omitted",
        "Endpoints left out of ticketbridge_endpoint_days_left to bound its cardinality.",
        registry=registry,
    )
    served = sorted(
        (when, certificate.id, label)
        for certificate in certificates
        for label, when in _endpoint_expiries(certificate)
    )
    for when, certificate_id, label in served[:MAX_ENDPOINT_SERIES]:
        left = (when - now).total_seconds() / DAY
        days_left.labels(certificate_id, _clipped(label)).set(round(left, 3))
    unlisted.set(max(0, len(served) - MAX_ENDPOINT_SERIES))


def _run_series(
    registry: CollectorRegistry,
    observations: Sequence[Observation],
    outcome: RunOutcome,
    duration: float | None,
    last_success: float | None,
) -> None:
    def gauge(name: str, text: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, text, list(labels), registry=registry)

    observed = gauge("ticketbridge_observations", "Observations of this run by status.", ["status"])
    failed = gauge("ticketbridge_probe_failures", "Failed probes of this run by kind.", ["kind"])
    actions = gauge("ticketbridge_plan_actions", "Actions in this run's plan by kind.", ["kind"])
    failures = gauge("ticketbridge_apply_failures", "Writes that failed in this run.")
    applied = gauge("ticketbridge_apply_writes", "Writes applied in this run.")
    finished = gauge("ticketbridge_last_run_timestamp_seconds", "When this run finished planning.")
    success = gauge("ticketbridge_last_run_success", "1 when every write of the run succeeded.")
    observed.labels("ok").set(sum(1 for o in observations if o.ok))
    observed.labels("error").set(sum(1 for o in observations if not o.ok))
    for observation in observations:
        if observation.error is not None:
            failed.labels(str(observation.error.kind)).inc()
    for kind, count in outcome.plan.summary.items():
        actions.labels(kind).set(count)
    report = outcome.report
    failures.set(len(report.failures) if report else 0)
    applied.set(report.applied if report else 0)
    finished.set(outcome.plan.generated_at.timestamp())
    ok = report is None or report.ok
    success.set(1 if ok else 0)
    if duration is not None:
        gauge("ticketbridge_run_duration_seconds", "Wall-clock seconds this run took.").set(
            round(duration, 3)
        )
    last = outcome.plan.generated_at.timestamp() if ok else last_success
    if last is not None:
        gauge(LAST_SUCCESS, "When a run last finished with every write done.").set(last)


def write_metrics(
    path: Path,
    observations: Sequence[Observation],
    outcome: RunOutcome,
    *,
    duration: float | None = None,
) -> None:
    """Certificates as the run tracked them: the ids of its plan, tickets and audit trail."""
    registry = CollectorRegistry()
    certificates = outcome.inventory.certificates
    now = outcome.plan.generated_at
    _certificate_series(registry, certificates, now)
    _endpoint_series(registry, certificates, now)
    _run_series(registry, observations, outcome, duration, previous_success(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
