"""What scan shows of the sources: endpoints per source, names reported but not probed, and the
CT findings (issued but not deployed, served but never logged, names no source lists)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ticketbridge.app.sources import SourceCount
from ticketbridge.core.ctfindings import CtFindings, IssuedNotDeployed
from ticketbridge.core.timefmt import iso_z


def sources_to_json(counts: Sequence[SourceCount]) -> list[dict[str, Any]]:
    return [
        {
            "source": count.source,
            "endpoints": count.endpoints,
            "certificates": count.certificates,
            "skipped": [{"name": item.name, "reason": item.reason} for item in count.skipped],
        }
        for count in counts
    ]


def ct_to_json(findings: CtFindings) -> dict[str, Any]:
    return {
        "logged": findings.logged,
        "issued_not_deployed": [_issued(item) for item in findings.issued_not_deployed],
        "served_not_logged": [
            {
                "certificate_id": item.certificate_id,
                "serial": item.leaf.serial,
                "fingerprint_sha256": item.leaf.fingerprint_sha256,
                "subject": item.leaf.subject,
                "issuer": item.leaf.issuer,
                "not_after": iso_z(item.leaf.not_after),
                "endpoints": list(item.endpoints),
            }
            for item in findings.served_not_logged
        ],
        "unlisted_names": [
            {
                "name": item.name,
                "serials": list(item.serials),
                "certificate_ids": list(item.certificate_ids),
            }
            for item in findings.unlisted_names
        ],
    }


def _issued(item: IssuedNotDeployed) -> dict[str, Any]:
    logged = item.logged
    return {
        "certificate_id": item.certificate_id,
        "serial": logged.serial,
        "names": list(logged.names),
        "issuer": logged.issuer,
        "not_before": iso_z(logged.not_before),
        "not_after": iso_z(logged.not_after),
        "precertificate": logged.precertificate,
        "logged_at": iso_z(logged.logged_at) if logged.logged_at else None,
        "served_not_after": iso_z(item.served_not_after),
        "source": logged.source,
    }


def source_lines(counts: Sequence[SourceCount], findings: CtFindings | None) -> Iterator[str]:
    """Plain lines for the scan table: a person reads these under the certificates."""
    for count in counts:
        kept = f", {count.certificates} certificates" if count.certificates else ""
        yield f"{count.source}: {count.endpoints} endpoints{kept}"
        for item in count.skipped:
            yield f"  not probed: {item.name} ({item.reason})"
    if findings is None:
        return
    for issued in findings.issued_not_deployed:
        logged = issued.logged
        yield (
            f"issued but not deployed: serial {logged.serial} for {', '.join(logged.names)} "
            f"expires {iso_z(logged.not_after)}; served ({issued.certificate_id}) expires "
            f"{iso_z(issued.served_not_after)}"
        )
    for unlogged in findings.served_not_logged:
        yield (
            f"served but never logged in CT: serial {unlogged.leaf.serial} "
            f"({unlogged.certificate_id}) on {', '.join(unlogged.endpoints)}"
        )
    for name in findings.unlisted_names:
        yield f"in CT but listed by no source: {name.name}"
