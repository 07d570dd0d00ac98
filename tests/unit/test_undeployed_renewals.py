"""`ticket_undeployed_renewals`: a renewal CT shows issued that no endpoint serves keeps its
certificate in need of a ticket, whatever the expiry, and the ticket says to deploy it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from support.decide_kit import NOW, WILDCARD, W, at, open_ticket, plan, wildcard
from ticketbridge.core.ctfindings import IssuedNotDeployed, LoggedCert
from ticketbridge.core.decide import decide
from ticketbridge.core.exceptions import RiskException
from ticketbridge.core.inventory import build_inventory
from ticketbridge.core.model import Ticket
from ticketbridge.core.plan import Plan
from ticketbridge.core.policy import Policy
from ticketbridge.core.undeployed import deploy_clause, undeployed_by_certificate

FAR = at(120)  # well beyond the 45-day horizon


def renewal(serial: str, not_after_days: float, cert_id: str = W) -> IssuedNotDeployed:
    logged = LoggedCert(
        serial=serial,
        names=tuple(WILDCARD),
        not_before=NOW - timedelta(days=1),
        not_after=at(not_after_days),
        issuer="CN=Test CA",
        source="ct:ct.json",
    )
    return IssuedNotDeployed(certificate_id=cert_id, logged=logged, served_not_after=FAR)


def decided(
    undeployed: dict[str, IssuedNotDeployed],
    tickets: Sequence[Ticket] = (),
    exceptions: Sequence[RiskException] = (),
) -> Plan:
    return decide(
        build_inventory(wildcard(FAR)),
        tickets,
        Policy(),
        NOW,
        undeployed=undeployed,
        exceptions=exceptions,
    )


def test_without_a_finding_a_certificate_beyond_the_horizon_gets_nothing() -> None:
    assert decided({}).actions == ()
    assert plan(wildcard(FAR)).actions == ()


def test_an_undeployed_renewal_files_a_ticket_that_says_deploy_it() -> None:
    found = renewal("1f", 480)
    (create,) = decided({W: found}).actions
    assert str(create.kind) == "create" and create.certificate.id == W
    assert create.reason.endswith(deploy_clause(found))
    assert "serial 1f" in create.reason and "deploy it" in create.reason
    assert (
        create.new_ticket is not None
        and create.new_ticket.due_date == (FAR - timedelta(days=21)).date()
    )


def test_its_ticket_is_not_resolved_while_the_renewal_is_still_undeployed() -> None:
    current = open_ticket(due=(FAR - timedelta(days=21)).date())
    assert decided({W: renewal("1f", 480)}, tickets=[current]).actions == ()
    # Deployed (the finding is gone; what is served is beyond the horizon): resolved.
    (resolve,) = decided({}, tickets=[current]).actions
    assert str(resolve.kind) == "resolve" and resolve.ticket == "OPS-1"


def test_an_exception_still_holds_back_the_ticket() -> None:
    standing = RiskException(
        reason="decommissioning",
        approved_by="ciso@example.com",
        until=(NOW + timedelta(days=30)).date(),
        names=tuple(WILDCARD),
    )
    assert decided({W: renewal("1f", 480)}, exceptions=[standing]).actions == ()


def test_within_the_horizon_the_reason_carries_the_clause_too() -> None:
    found = renewal("2a", 400)
    actions = decide(
        build_inventory(wildcard(at(10))), (), Policy(), NOW, undeployed={W: found}
    ).actions
    assert str(actions[0].kind) == "create" and actions[0].reason.endswith(deploy_clause(found))
    assert all(deploy_clause(found) not in action.reason for action in actions[1:])


def test_the_newest_renewal_of_each_certificate_is_the_one_to_deploy() -> None:
    older, newer, other = renewal("0a", 300), renewal("0b", 400), renewal("9", 500, cert_id="x")
    tie_low, tie_high = renewal("0c", 400), renewal("0d", 400)
    assert undeployed_by_certificate([older, newer, other]) == {W: newer, "x": other}
    assert undeployed_by_certificate([newer, older]) == {W: newer}
    assert undeployed_by_certificate([tie_high, tie_low])[W] is tie_high
    assert undeployed_by_certificate([]) == {}


def test_the_clause_names_the_serial_and_expiry() -> None:
    assert deploy_clause(renewal("1f", 480)) == (
        f"a renewal (serial 1f, expiring {at(480).strftime('%Y-%m-%dT%H:%M:%SZ')}) was issued "
        "and logged in Certificate Transparency but is served nowhere ticketbridge looked: "
        "deploy it"
    )
