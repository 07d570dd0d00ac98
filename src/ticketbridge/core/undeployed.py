"""Renewals issued but never deployed (`[policy] ticket_undeployed_renewals`): which tracked
certificates they keep in need of a ticket, and what that ticket's reason says to do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from ticketbridge.core.ctfindings import IssuedNotDeployed
from ticketbridge.core.explain import join
from ticketbridge.core.plan import Action
from ticketbridge.core.timefmt import iso_z


def undeployed_by_certificate(
    findings: Iterable[IssuedNotDeployed],
) -> dict[str, IssuedNotDeployed]:
    """The newest undeployed renewal of each tracked certificate (the one to deploy)."""
    newest: dict[str, IssuedNotDeployed] = {}
    for finding in findings:
        held = newest.get(finding.certificate_id)
        if held is None or (finding.logged.not_after, finding.logged.serial) > (
            held.logged.not_after,
            held.logged.serial,
        ):
            newest[finding.certificate_id] = finding
    return newest


def deploy_clause(finding: IssuedNotDeployed) -> str:
    logged = finding.logged
    return (
        f"a renewal (serial {logged.serial}, expiring {iso_z(logged.not_after)}) was issued and "
        "logged in Certificate Transparency but is served nowhere ticketbridge looked: deploy it"
    )


def with_undeployed(
    actions: list[Action], undeployed: Mapping[str, IssuedNotDeployed]
) -> list[Action]:
    """The first action about a certificate with an undeployed renewal says what to do."""
    if not actions:
        return actions
    finding = undeployed.get(actions[0].certificate.id)
    if finding is None:
        return actions
    actions[0] = replace(actions[0], reason=join(actions[0].reason, deploy_clause(finding)))
    return actions
