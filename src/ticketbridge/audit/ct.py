"""The audit trail's record of what Certificate Transparency showed against what was served, and
the report's view of it: the findings of the last run in the window."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ticketbridge.core.ctfindings import CtFindings
from ticketbridge.core.timefmt import iso_z

CT_FINDINGS = "ct_findings"


def ct_findings_data(findings: CtFindings) -> dict[str, Any]:
    """One row per finding, each readable alone (an auditor's table, a SIEM's event)."""
    rows: list[dict[str, Any]] = []
    for issued in findings.issued_not_deployed:
        rows.append(
            {
                "finding": "issued_not_deployed",
                "certificate_id": issued.certificate_id,
                "names": list(issued.logged.names),
                "serial": issued.logged.serial,
                "not_after": iso_z(issued.logged.not_after),
                "detail": f"logged in CT, served nowhere; what is served expires "
                f"{iso_z(issued.served_not_after)}",
            }
        )
    for unlogged in findings.served_not_logged:
        rows.append(
            {
                "finding": "served_not_logged",
                "certificate_id": unlogged.certificate_id,
                "names": list(unlogged.leaf.names),
                "serial": unlogged.leaf.serial,
                "not_after": iso_z(unlogged.leaf.not_after),
                "detail": f"served on {', '.join(unlogged.endpoints)}; no CT entry",
            }
        )
    for unlisted in findings.unlisted_names:
        rows.append(
            {
                "finding": "unlisted_name",
                "certificate_id": ",".join(unlisted.certificate_ids) or None,
                "names": [unlisted.name],
                "serial": ",".join(unlisted.serials),
                "not_after": None,
                "detail": "certificates issued for it; no source lists it",
            }
        )
    return {"logged": findings.logged, "findings": rows}


def latest_ct_findings(
    records: Iterable[dict[str, Any]], in_window: Callable[[Any], bool]
) -> tuple[dict[str, Any], ...]:
    """The findings the last run in the window recorded: they describe a state, not events."""
    latest: dict[str, Any] | None = None
    for record in records:
        if record.get("event") == CT_FINDINGS and in_window(record.get("time")):
            latest = record
    if latest is None:
        return ()
    return tuple(
        {**row, "time": latest.get("time"), "run": latest.get("run")}
        for row in latest.get("data", {}).get("findings", [])
        if isinstance(row, dict)
    )
