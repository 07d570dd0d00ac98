"""Resolving, and what failed or missing probes forbid (SPEC: "Endpoints that could not be
probed this run never move a due date later, never resolve, never close")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support.builders import NOW, cert_id, endpoint, failed, markers, served
from support.decide_kit import (
    API,
    APP,
    URL,
    WILDCARD,
    W,
    at,
    change,
    day,
    evidence,
    expect,
    fp,
    iso,
    open_ticket,
    plan,
    whole,
    wildcard,
)
from ticketbridge.core.inventory import InventoryPin
from ticketbridge.core.model import MARKER_LABEL, ErrorKind, Observation, marker_label
from ticketbridge.core.plan import PAGED_LABEL
from ticketbridge.core.policy import Policy
from ticketbridge.core.ports import TicketEdit

RENEWED = at(300)
SOON = at(30)
API_ONLY = ("api.example.com",)
API_ID = cert_id(API_ONLY)
LEGACY = "legacy.example.net:443@198.51.100.9"


def kinds(result: object) -> list[tuple[str, str | None]]:
    return [(str(a.kind), a.ticket) for a in result.actions]  # type: ignore[attr-defined]


def resolve_reason(count: int, fingerprints: list[str], earliest: str) -> str:
    noun = "endpoints" if count != 1 else "endpoint"
    certs = "certificates" if len(fingerprints) != 1 else "certificate"
    return (
        f"all {count} {noun} it tracked now serve {certs} "
        f"{', '.join(f[:16] for f in fingerprints)} expiring {earliest} at the earliest, "
        "beyond the 45-day horizon"
    )


def test_a_renewal_live_everywhere_resolves_whole_and_pages_nothing_for_an_unpaged_ticket() -> None:
    (resolve,) = plan(wildcard(RENEWED), [open_ticket(due=day(SOON, 21))]).actions

    assert whole(resolve) == expect(
        "resolve",
        "OPS-1",
        fields={"status": change("To Do", "done")},
        reason=resolve_reason(2, [fp(RENEWED)], iso(RENEWED)),
    )


def test_a_paged_ticket_resolves_its_page_with_the_same_dedup_key() -> None:
    paged = open_ticket(due=day(SOON, 21), labels=(*markers(WILDCARD), PAGED_LABEL))
    (resolve,) = plan(wildcard(RENEWED), [paged]).actions
    assert resolve.paged
    assert resolve.page is not None
    assert resolve.page.as_dict() == {
        "event": "resolve",
        "dedup_key": W,
        "severity": "critical",
        "summary": "*.example.com renewed: live on every endpoint",
        "certificate": {
            "id": W,
            "names": list(WILDCARD),
            "effective_not_after": iso(RENEWED),
            "fingerprints": [fp(RENEWED)],
            "endpoints": [API, APP],
        },
        "ticket": "OPS-1",
        "ticket_url": URL + "OPS-1",
    }


def test_a_paged_ticket_without_on_call_sinks_resolves_without_a_page() -> None:
    paged = open_ticket(due=day(SOON, 21), labels=(*markers(WILDCARD), PAGED_LABEL))
    (resolve,) = plan(wildcard(RENEWED), [paged], paging=False).actions
    assert (str(resolve.kind), resolve.page, resolve.paged) == ("resolve", None, False)


def test_a_tracked_endpoint_now_serving_another_certificate_still_expiring_keeps_it_open() -> None:
    observations = [
        *wildcard(RENEWED, hosts=("app",)),
        served("api.example.com", "192.0.2.11", API_ONLY, SOON),
    ]
    result = plan(observations, [open_ticket(due=day(SOON, 21))])
    # The api certificate gets its own ticket; the wildcard's stays open until api moves on.
    assert kinds(result) == [("create", None)]
    assert result.actions[0].certificate.id == API_ID


def test_tracked_endpoints_serving_other_renewed_certificates_resolve_with_them_related() -> None:
    observations = [
        *wildcard(RENEWED, hosts=("app",)),
        served("api.example.com", "192.0.2.11", API_ONLY, at(200)),
    ]
    (resolve,) = plan(observations, [open_ticket(due=day(SOON, 21))]).actions
    assert whole(resolve) == expect(
        "resolve",
        "OPS-1",
        fields={"status": change("To Do", "done")},
        reason=resolve_reason(2, sorted([fp(RENEWED), fp(at(200), API_ONLY)]), iso(at(200))),
        related=[API_ID],
    )
    assert "Now served instead:" in resolve.comment
    assert f"Certificate {API_ID}: api.example.com" in resolve.comment


def test_a_certificate_served_nowhere_resolves_by_what_its_tracked_endpoints_serve() -> None:
    old = ("a.example.net",)
    moved = open_ticket(
        due=day(SOON, 21), labels=markers(old), tracked=("a.example.net:443@198.51.100.1",)
    )
    new = served("a.example.net", "198.51.100.1", ("a.example.net", "b.example.net"), RENEWED)
    (resolve,) = plan([new], [moved]).actions
    renewed_fp = fp(RENEWED, ("a.example.net", "b.example.net"))
    assert whole(resolve) == expect(
        "resolve",
        "OPS-1",
        certificate=cert_id(old),
        fields={"status": change("To Do", "done")},
        reason=resolve_reason(1, [renewed_fp], iso(RENEWED)),
        related=[cert_id(("a.example.net", "b.example.net"))],
    )
    assert resolve.certificate.endpoints == ("a.example.net:443@198.51.100.1",)


def test_a_certificate_served_nowhere_and_a_ticket_tracking_nothing_is_only_reported() -> None:
    orphan = open_ticket("OPS-5", labels=(MARKER_LABEL, marker_label("f" * 16)), tracked=())
    (report,) = plan(wildcard(RENEWED), [orphan]).actions
    assert whole(report) == expect(
        "unobserved",
        "OPS-5",
        certificate="f" * 16,
        reason=(
            f"no endpoint served certificate {'f' * 16} this run and OPS-5 records none, "
            "so OPS-5 is not resolved"
        ),
    )


def test_resolution_left_to_people_leaves_even_orphans_alone() -> None:
    orphan = open_ticket("OPS-5", labels=(MARKER_LABEL, marker_label("f" * 16)))
    assert plan(wildcard(RENEWED), [orphan], Policy(resolve_on_renewal=False)).actions == ()


# -- partial observations ---------------------------------------------------------------------


def test_a_failed_probe_at_an_endpoint_only_the_ticket_remembers_blocks_the_resolve() -> None:
    remembered = open_ticket(due=day(SOON, 21), tracked=(API, APP, LEGACY))
    observations = [*wildcard(RENEWED), failed("legacy.example.net", "198.51.100.9")]
    (report,) = plan(observations, [remembered]).actions
    assert whole(report) == expect(
        "unobserved",
        "OPS-1",
        reason=f"endpoint {LEGACY} (timeout) could not be probed this run, so OPS-1 is not resolved",
        unobserved=[
            {"endpoint": LEGACY, "error": "timeout", "message": "timeout talking to 198.51.100.9"}
        ],
    )


def test_a_host_the_wildcard_merely_names_does_not_block_a_ticket_that_knows_its_endpoints() -> (
    None
):
    observations = [*wildcard(RENEWED), failed("new.example.com", "192.0.2.50")]
    assert kinds(plan(observations, [open_ticket(due=day(SOON, 21))])) == [("resolve", "OPS-1")]


def test_a_host_the_wildcard_names_blocks_a_ticket_that_recorded_no_endpoints() -> None:
    observations = [*wildcard(RENEWED), failed("new.example.com", "192.0.2.50", ErrorKind.REFUSED)]
    (report,) = plan(observations, [open_ticket(due=day(SOON, 21), tracked=())]).actions
    assert report.reason == (
        "endpoint new.example.com:443@192.0.2.50 (refused) could not be probed this run, "
        "so OPS-1 is not resolved"
    )


def test_another_node_of_a_serving_host_that_failed_blocks_the_resolve() -> None:
    observations = [*wildcard(RENEWED), failed("app.example.com", "192.0.2.13")]
    assert kinds(plan(observations, [open_ticket(due=day(SOON, 21))])) == [("unobserved", "OPS-1")]


def test_a_tracked_endpoint_absent_from_the_run_is_listed_as_missing() -> None:
    (report,) = plan(wildcard(RENEWED, hosts=("app",)), [open_ticket(due=day(SOON, 21))]).actions
    assert report.reason == (
        f"endpoint {API} (missing) could not be probed this run, so OPS-1 is not resolved"
    )
    assert [e.as_dict() for e in report.unobserved] == [
        {"endpoint": API, "error": "missing", "message": "not probed this run"}
    ]


def test_many_failures_are_counted_and_only_the_first_are_named() -> None:
    hosts = [f"n{i}.example.com" for i in range(7)]
    observations = [
        *wildcard(RENEWED),
        *(failed(h, f"192.0.2.{60 + i}") for i, h in enumerate(hosts)),
    ]
    (report,) = plan(observations, [open_ticket(due=day(SOON, 21), tracked=())]).actions
    named = ", ".join(f"{h}:443@192.0.2.{60 + i} (timeout)" for i, h in enumerate(hosts[:5]))
    assert report.reason == (
        f"endpoints {named} and 2 more could not be probed this run, so OPS-1 is not resolved"
    )
    assert len(report.unobserved) == 7


def test_a_held_back_due_date_says_what_it_would_have_been() -> None:
    observations = [*wildcard(SOON, hosts=("app",)), failed("api.example.com", "192.0.2.11")]
    early = open_ticket(due=day(SOON, 26))
    (report,) = plan(observations, [early]).actions
    assert report.reason == (
        f"endpoint {API} (timeout) could not be probed this run, so the due date stays "
        f"{day(SOON, 26)} instead of moving later to {day(SOON, 21)}"
    )


def test_an_update_with_a_failure_concludes_nothing_from_it() -> None:
    observations = [*wildcard(SOON, hosts=("app",)), failed("api.example.com", "192.0.2.11")]
    late = open_ticket(due=day(SOON, 10))
    update, report = plan(observations, [late]).actions
    assert str(update.kind) == "update"
    assert report.reason == (
        f"endpoint {API} (timeout) could not be probed this run, so nothing is concluded from them"
    )


# -- evidence written with every edit ---------------------------------------------------------


def test_an_update_and_an_escalation_carry_the_endpoints_the_ticket_then_tracks() -> None:
    expiry = at(10)
    stale = open_ticket(due=day(expiry, 5), priority="Medium")
    update, escalate = plan(wildcard(expiry), [stale]).actions
    assert update.edit == TicketEdit(due_date=day(expiry, 21), evidence=evidence(expiry))
    assert escalate.edit == TicketEdit(priority="Highest", evidence=evidence(expiry))


def test_a_tracked_endpoint_that_failed_this_run_stays_tracked() -> None:
    expiry = at(10)
    observations = [*wildcard(expiry, hosts=("app",)), failed("api.example.com", "192.0.2.11")]
    stale = open_ticket(due=day(expiry, 5), priority="Highest")
    update, _ = plan(observations, [stale]).actions
    assert update.edit is not None
    assert update.edit.evidence == evidence(expiry, [API, APP])


def test_a_failed_endpoint_the_ticket_never_tracked_is_not_added() -> None:
    expiry = at(10)
    observations = [*wildcard(expiry), failed("new.example.com", "192.0.2.50")]
    stale = open_ticket(due=day(expiry, 5), priority="Highest", tracked=(APP,))
    update, _ = plan(observations, [stale]).actions
    assert update.edit is not None
    assert update.edit.evidence == evidence(expiry, [API, APP])


# -- branches no test had run -----------------------------------------------------------------


def test_the_inventory_assignee_is_set_on_an_unassigned_ticket() -> None:
    pin = InventoryPin(names=WILDCARD, assignee="alice")
    (update,) = plan(wildcard(SOON), [open_ticket(due=day(SOON, 21))], pins=[pin]).actions
    assert whole(update) == expect(
        "update",
        "OPS-1",
        fields={"assignee": change(None, "alice")},
        reason="the inventory assigns *.example.com to alice",
        edit=TicketEdit(assignee="alice", evidence=evidence(SOON)),
    )


def test_the_inventory_assignee_never_replaces_a_person() -> None:
    pin = InventoryPin(names=WILDCARD, assignee="alice")
    mine = open_ticket(due=day(SOON, 21), assignee="bob")
    assert plan(wildcard(SOON), [mine], pins=[pin]).actions == ()


def test_a_lost_marker_label_is_repaired() -> None:
    half = open_ticket(due=day(SOON, 21), labels=(marker_label(W),))
    (update,) = plan(wildcard(SOON), [half]).actions
    assert whole(update) == expect(
        "update",
        "OPS-1",
        fields={"labels": change([marker_label(W)], [marker_label(W), MARKER_LABEL])},
        reason="it lacked the ticketbridge label",
        edit=TicketEdit(add_labels=(MARKER_LABEL,), evidence=evidence(SOON)),
    )


def test_a_ticket_that_recorded_no_endpoints_counts_the_certificates_own() -> None:
    (resolve,) = plan(wildcard(RENEWED), [open_ticket(due=day(SOON, 21), tracked=())]).actions
    assert resolve.reason == resolve_reason(2, [fp(RENEWED)], iso(RENEWED))


def test_a_failure_without_a_classified_error_is_still_listed() -> None:
    # An observation may fail without a ProbeError (status "ok" but no certificate read).
    silent = Observation(
        endpoint=endpoint("api.example.com", "192.0.2.11"), observed_at=NOW, status="ok"
    )
    (report,) = plan([*wildcard(RENEWED, hosts=("app",)), silent], [open_ticket()]).actions
    assert [e.as_dict() for e in report.unobserved] == [
        {"endpoint": API, "error": "error", "message": ""}
    ]


@pytest.mark.parametrize(("count", "more"), [(5, ""), (6, " and 1 more")])
def test_five_failures_are_named_and_a_sixth_is_counted(count: int, more: str) -> None:
    hosts = [f"n{i}.example.com" for i in range(count)]
    observations = [*wildcard(RENEWED), *(failed(h, "192.0.2.99") for h in hosts)]
    (report,) = plan(observations, [open_ticket(due=day(SOON, 21), tracked=())]).actions
    named = ", ".join(f"{h}:443@192.0.2.99 (timeout)" for h in hosts[:5])
    assert report.reason == (
        f"endpoints {named}{more} could not be probed this run, so OPS-1 is not resolved"
    )


def test_a_failed_and_a_missing_endpoint_are_both_named() -> None:
    remembered = open_ticket(due=day(SOON, 21), tracked=(API, APP, LEGACY))
    observations = [*wildcard(RENEWED, hosts=("app",)), failed("api.example.com", "192.0.2.11")]
    (report,) = plan(observations, [remembered]).actions
    assert report.reason == (
        f"endpoints {API} (timeout), {LEGACY} (missing) could not be probed this run, "
        "so OPS-1 is not resolved"
    )


def test_a_failed_endpoint_only_the_ticket_remembers_holds_a_later_due_date_back() -> None:
    remembered = open_ticket(due=day(SOON, 26), tracked=(API, APP, LEGACY))
    observations = [*wildcard(SOON), failed("legacy.example.net", "198.51.100.9")]
    (report,) = plan(observations, [remembered]).actions
    assert report.reason == (
        f"endpoint {LEGACY} (timeout) could not be probed this run, so the due date stays "
        f"{day(SOON, 26)} instead of moving later to {day(SOON, 21)}"
    )


# -- an expiry no calendar can hold (RFC 5280 4.1.2.5: 99991231235959Z) -----------------------

FOREVER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
TOKYO = Policy(timezone="Asia/Tokyo")


def test_an_unplaceable_certificate_names_and_leaves_its_tickets_alone() -> None:
    tickets = [open_ticket("OPS-1", due=day(SOON, 21)), open_ticket("OPS-2", created=NOW)]
    (report,) = plan(wildcard(FOREVER), tickets, TOKYO).actions
    assert whole(report) == expect(
        "unplaceable",
        "OPS-1",
        reason=(
            "*.example.com: effective expiry 9999-12-31T23:59:59Z has no date in Asia/Tokyo "
            "with 21 days' lead time (outside years 1-9999), so nothing is planned for it; "
            "OPS-1, OPS-2 left as is"
        ),
    )


def test_an_unplaceable_certificate_without_a_ticket_is_reported_alone() -> None:
    (report,) = plan(wildcard(FOREVER), [], TOKYO).actions
    assert (str(report.kind), report.ticket, report.ticket_url) == ("unplaceable", None, None)
    assert report.reason.endswith("(outside years 1-9999), so nothing is planned for it")
