"""Which ticket is about which certificate (SPEC "Ticket match"), and what each match writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from support.builders import NOW, WWW, cert_id, markers, served, ticket
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
    open_ticket,
    plan,
    whole,
    wildcard,
)
from ticketbridge.core.model import MARKER_LABEL, Observation, Ticket, marker_label
from ticketbridge.core.plan import DUPLICATE_LABEL
from ticketbridge.core.ports import TicketEdit

SOON = at(30)
FAR = at(300)
WWW_ID = cert_id(WWW)


def hand_filed(key: str, summary: str, **changes: object) -> Ticket:
    return replace(ticket(key, summary, **changes), url=URL + key)  # type: ignore[arg-type]


def kinds(result: object) -> list[tuple[str, str | None]]:
    return [(str(a.kind), a.ticket) for a in result.actions]  # type: ignore[attr-defined]


def www(expiry: datetime = FAR) -> Observation:
    return served("www.example.com", "192.0.2.20", WWW, expiry)


# -- adoption ---------------------------------------------------------------------------------


def test_an_adopted_ticket_gets_the_markers_and_a_reason_naming_what_matched() -> None:
    filed = hand_filed("OPS-7", "Renew *.example.com", due=day(SOON, 21))
    (update,) = plan(wildcard(SOON), [filed]).actions
    assert whole(update) == expect(
        "update",
        "OPS-7",
        fields={"labels": change([], [MARKER_LABEL, marker_label(W)])},
        reason=f"its summary names *.example.com, served with certificate {W}, so ticketbridge adopts it",
        edit=TicketEdit(add_labels=(MARKER_LABEL, marker_label(W)), evidence=evidence(SOON)),
    )


@pytest.mark.parametrize(
    ("summary", "adopted"),
    [
        ("Renew my-app.example.com", True),  # hyphens belong to the name
        ("renew MY-APP.EXAMPLE.COM now", True),
        ("Renew app.example.com", False),  # another host: not this certificate
        ("Renew my-app", False),  # a single label names no host
        ("my-app.example.com.", True),  # a trailing dot ends the sentence, not the name
    ],
)
def test_hyphenated_and_single_label_names(summary: str, adopted: bool) -> None:
    names = ("my-app.example.com",)
    observations = [served("my-app.example.com", "192.0.2.30", names, SOON)]
    result = plan(observations, [hand_filed("OPS-7", summary, due=day(SOON, 21))])
    assert kinds(result) == ([("update", "OPS-7")] if adopted else [("create", None)])


def test_a_single_label_certificate_is_never_adopted_by_summary() -> None:
    # A word such as "intranet" in a summary is too weak to tie a ticket to a certificate.
    observations = [served("intranet", "10.0.0.5", ("intranet",), SOON)]
    result = plan(observations, [hand_filed("OPS-7", "Renew intranet", due=day(SOON, 21))])
    assert kinds(result) == [("create", None)]


def test_a_closed_hand_filed_ticket_is_never_adopted() -> None:
    closed = hand_filed("OPS-7", "Renew *.example.com", status="Done")
    assert kinds(plan(wildcard(SOON), [closed])) == [("create", None)]


def test_a_hand_filed_ticket_flagged_as_duplicate_is_never_adopted() -> None:
    flagged = hand_filed("OPS-7", "Renew *.example.com", labels=(DUPLICATE_LABEL,))
    assert kinds(plan(wildcard(SOON), [flagged])) == [("create", None)]


def test_a_marker_ticket_wins_and_a_hand_filed_one_is_left_unwritten() -> None:
    # Matching stops at the first rule that matches (SPEC): the summary rule is never reached.
    mine = open_ticket(due=day(SOON, 21), created=NOW - timedelta(days=1))
    older = hand_filed("OPS-7", "Renew *.example.com", created=NOW - timedelta(days=90))
    assert kinds(plan(wildcard(SOON), [mine, older])) == []


def test_a_later_marker_ticket_is_flagged_as_a_duplicate_of_the_oldest() -> None:
    kept = open_ticket("OPS-1", due=day(SOON, 21))
    later = open_ticket("OPS-2", due=day(SOON, 21), created=NOW)
    (duplicate,) = plan(wildcard(SOON), [kept, later]).actions
    assert whole(duplicate) == expect(
        "duplicate",
        "OPS-2",
        fields={"labels": change([*markers(WILDCARD)], [*markers(WILDCARD), DUPLICATE_LABEL])},
        reason=(
            f"OPS-2 duplicates OPS-1 ({URL}OPS-1), the oldest open ticket for *.example.com, "
            "which ticketbridge keeps"
        ),
        edit=TicketEdit(add_labels=(DUPLICATE_LABEL,)),
    )


def test_a_duplicate_of_a_ticket_without_url_links_its_key() -> None:
    kept = open_ticket("OPS-1", due=day(SOON, 21), url=None)
    later = open_ticket("OPS-2", due=day(SOON, 21), created=NOW)
    (duplicate,) = plan(wildcard(SOON), [kept, later]).actions
    assert duplicate.reason.startswith("OPS-2 duplicates OPS-1, the oldest open ticket")


def test_the_same_day_tickets_are_ordered_by_natural_key() -> None:
    same = NOW - timedelta(days=3)
    nine = open_ticket("OPS-9", due=day(SOON, 21), created=same)
    ten = open_ticket("OPS-10", due=day(SOON, 21), created=same)
    assert kinds(plan(wildcard(SOON), [ten, nine])) == [("duplicate", "OPS-10")]


# -- ambiguity --------------------------------------------------------------------------------


def test_a_summary_naming_two_certificates_one_expiring_is_reported_whole() -> None:
    both = hand_filed("OPS-9", "app.example.com and www.example.com")
    result = plan([*wildcard(SOON), www()], [both])
    assert kinds(result) == [("create", None), ("ambiguous", "OPS-9")]
    report = result.actions[1]
    first, second = sorted([W, WWW_ID])
    label = {W: "*.example.com", WWW_ID: "www.example.com"}
    assert whole(report) == expect(
        "ambiguous",
        "OPS-9",
        certificate=first,
        reason=(
            f"OPS-9 names 2 tracked certificates ({label[first]} ({first}); "
            f"{label[second]} ({second})), so ticketbridge does not write to it"
        ),
        related=[second],
    )
    assert report.comment == ""


def test_a_summary_naming_two_certificates_far_from_expiry_is_left_alone() -> None:
    both = hand_filed("OPS-9", "app.example.com and www.example.com")
    assert kinds(plan([*wildcard(FAR), www()], [both])) == []


def test_two_markers_are_reported_even_far_from_expiry_and_for_unknown_ids() -> None:
    other = "0" * 16
    torn = hand_filed("OPS-9", "Renew", labels=(*markers(WILDCARD), marker_label(other)))
    (report,) = plan(wildcard(FAR), [torn]).actions
    assert whole(report) == expect(
        "ambiguous",
        "OPS-9",
        certificate=other,
        reason=(
            f"OPS-9 carries markers of 2 tracked certificates (certificate {other} ({other}); "
            f"*.example.com ({W})), so ticketbridge does not write to it"
        ),
        related=[W],
    )


def test_a_closed_ticket_with_two_markers_is_not_reported() -> None:
    torn = hand_filed(
        "OPS-9", "Renew", labels=(*markers(WILDCARD), marker_label("0" * 16)), status="Done"
    )
    assert kinds(plan(wildcard(FAR), [torn])) == []


def test_several_ambiguous_tickets_are_each_reported_and_none_blocks_the_create() -> None:
    tickets = [
        hand_filed("OPS-8", "www.example.com vs api.example.com"),
        hand_filed("OPS-9", "app.example.com and www.example.com"),
    ]
    result = plan([*wildcard(SOON), www()], tickets)
    assert kinds(result) == [("create", None), ("ambiguous", "OPS-8"), ("ambiguous", "OPS-9")]


# -- reopening --------------------------------------------------------------------------------


def test_the_most_recently_resolved_ticket_about_this_expiry_is_reopened_whole() -> None:
    first = open_ticket(
        "OPS-1", due=day(SOON, 21), status="Done", resolved_at=NOW - timedelta(days=9)
    )
    last = open_ticket("OPS-2", due=None, status="Done", resolved_at=NOW - timedelta(days=2))
    older = open_ticket(
        "OPS-3", due=day(SOON, 21), status="Done", resolved_at=NOW - timedelta(days=20)
    )
    reopen, update = sorted(
        plan(wildcard(SOON), [first, last, older]).actions, key=lambda a: str(a.kind)
    )
    assert whole(reopen) == expect(
        "reopen",
        "OPS-2",
        fields={"status": change("Done", "reopened")},
        reason=(
            "OPS-2 was closed but *.example.com still expires "
            f"{SOON.strftime('%Y-%m-%dT%H:%M:%SZ')} (in 30 days), within the 45-day horizon"
        ),
    )
    assert (str(update.kind), update.ticket, update.fields["duedate"].as_dict()) == (
        "update",
        "OPS-2",
        change(None, day(SOON, 21).isoformat()),
    )


def test_equal_resolution_times_reopen_the_later_key() -> None:
    when = NOW - timedelta(days=2)
    tickets = [
        open_ticket(k, due=day(SOON, 21), status="Done", resolved_at=when)
        for k in ("OPS-9", "OPS-10")
    ]
    assert kinds(plan(wildcard(SOON), tickets)) == [("reopen", "OPS-10")]


def test_a_ticket_due_on_the_required_date_is_about_this_expiry() -> None:
    on_time = open_ticket(due=day(SOON, 21), status="Done")
    a_day_early = open_ticket("OPS-2", due=day(SOON, 22), status="Done")
    assert kinds(plan(wildcard(SOON), [on_time])) == [("reopen", "OPS-1")]
    assert kinds(plan(wildcard(SOON), [a_day_early])) == [("create", None)]


def test_a_closed_ticket_for_a_renewed_certificate_stays_closed() -> None:
    assert kinds(plan(wildcard(FAR), [open_ticket(due=day(SOON, 21), status="Done")])) == []


def test_apis_host_in_a_summary_adopts_the_wildcard_it_serves() -> None:
    filed = hand_filed("OPS-7", "cert warning on API.example.com!", due=day(SOON, 21))
    (update,) = plan(wildcard(SOON), [filed]).actions
    assert update.reason.startswith("its summary names api.example.com, served with certificate")
    assert update.edit is not None and update.edit.evidence == evidence(SOON, [API, APP])


def test_a_skipped_ambiguous_summary_does_not_hide_a_later_ambiguous_marker_ticket() -> None:
    tickets = [
        hand_filed("OPS-8", "app.example.com and www.example.com"),  # both far: skipped
        hand_filed("OPS-9", "Renew", labels=(*markers(WILDCARD), marker_label("0" * 16))),
    ]
    assert kinds(plan([*wildcard(FAR), www()], tickets)) == [("ambiguous", "OPS-9")]
