"""What a ticket keeps as evidence: the bounded issue property and the one comment per run."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from support.builders import (
    NOW,
    WILDCARD,
    WILDCARD_EXPIRY,
    failed,
    inventory,
    served,
    ticket,
)
from ticketbridge.core.explain import evidence_of, with_comments
from ticketbridge.core.fields import MAX_PROPERTY, evidence_size
from ticketbridge.core.index import RunFacts
from ticketbridge.core.model import TrackedCert
from ticketbridge.core.plan import (
    Action,
    ActionKind,
    CertificateSummary,
    Change,
    ServedEndpoint,
    StraySummary,
)
from ticketbridge.core.policy import Policy

ID = "0123456789abcdef"
FINGERPRINT = "ab" * 32
LIMIT = MAX_PROPERTY - 200  # room the backends keep for the id they add and the counts


def wildcard(*hosts: str) -> TrackedCert:
    observations = [
        served(host, f"192.0.2.{10 + index}", WILDCARD, WILDCARD_EXPIRY)
        for index, host in enumerate(hosts)
    ]
    return inventory(*observations).certificates[0]


def test_evidence_records_the_id_endpoints_fingerprints_and_expiry() -> None:
    cert = wildcard("app.example.com", "api.example.com")
    assert evidence_of(cert, None, []) == {
        "certificate_id": cert.id,
        "endpoints": ["api.example.com:443@192.0.2.11", "app.example.com:443@192.0.2.10"],
        "fingerprints": list(cert.fingerprints),
        "effective_not_after": "2026-12-05T21:44:22Z",
    }


def test_a_tracked_endpoint_that_failed_this_run_stays_tracked_and_one_that_moved_does_not() -> (
    None
):
    cert = wildcard("app.example.com")
    down = failed("db.example.com", "192.0.2.30")
    tracked = (down.endpoint.label, "gone.example.com:443@192.0.2.40")
    evidence = evidence_of(cert, ticket("OPS-1", tracked=tracked), [down])
    assert evidence["endpoints"] == ["app.example.com:443@192.0.2.10", down.endpoint.label]
    assert evidence_of(cert, None, [down])["endpoints"] == ["app.example.com:443@192.0.2.10"]


def fits_exactly(evidence: dict[str, object], key: str, items: list[str]) -> None:
    """As many items as fit are kept: one more would break the limit."""
    kept = evidence[key]
    assert isinstance(kept, list) and kept == items[: len(kept)]
    assert evidence[f"{key}_omitted"] == len(items) - len(kept)
    without_count = {k: v for k, v in evidence.items() if not k.endswith("_omitted")}
    assert evidence_size(without_count) <= LIMIT
    one_more = {**without_count, key: items[: len(kept) + 1]}
    assert evidence_size(one_more) > LIMIT


def test_past_the_property_limit_the_last_endpoints_are_left_out_and_counted() -> None:
    cert = wildcard(*(f"node{index:04}.example.com" for index in range(1_200)))
    evidence = evidence_of(cert, None, [])
    fits_exactly(dict(evidence), "endpoints", sorted(cert.endpoint_labels))
    assert evidence["fingerprints"] == list(cert.fingerprints)
    assert "fingerprints_omitted" not in evidence
    assert evidence_size(evidence) <= MAX_PROPERTY


def test_with_too_many_fingerprints_every_endpoint_goes_first_then_the_last_fingerprints() -> None:
    fingerprints = tuple(f"{index:064x}" for index in range(600))
    cert = replace(wildcard("app.example.com", "api.example.com"), fingerprints=fingerprints)
    evidence = dict(evidence_of(cert, None, []))
    assert evidence["endpoints"] == [] and evidence["endpoints_omitted"] == 2
    fits_exactly(evidence, "fingerprints", list(fingerprints))


def padded_to(size: int) -> TrackedCert:
    """The wildcard on two endpoints, its one fingerprint padded so the evidence has `size` bytes."""
    cert = replace(wildcard("app.example.com", "api.example.com"), fingerprints=("",))
    pad = size - evidence_size(evidence_of(cert, None, []))
    return replace(cert, fingerprints=("f" * pad,))


def test_evidence_at_exactly_the_limit_is_kept_whole_and_one_byte_more_is_not() -> None:
    exact = evidence_of(padded_to(LIMIT), None, [])
    assert evidence_size(exact) == LIMIT
    assert len(exact["endpoints"]) == 2 and "endpoints_omitted" not in exact
    over = evidence_of(padded_to(LIMIT + 1), None, [])
    assert over["endpoints"] == ["api.example.com:443@192.0.2.11"]
    assert over["endpoints_omitted"] == 1
    assert "fingerprints_omitted" not in over
    # Leaving out the last label (30 characters, its quotes and comma) lands exactly on the
    # limit: nothing more goes. The count of left-out endpoints sits in the room kept free, so
    # it does not cost the fingerprint its place (it did until the count was measured apart).
    cert = padded_to(LIMIT + 33)
    landing = dict(evidence_of(cert, None, []))
    assert landing["endpoints"] == ["api.example.com:443@192.0.2.11"]
    assert landing["fingerprints"] == list(cert.fingerprints)
    assert "fingerprints_omitted" not in landing
    assert evidence_size({k: v for k, v in landing.items() if k != "endpoints_omitted"}) == LIMIT
    assert evidence_size(landing) <= MAX_PROPERTY


def test_evidence_within_the_limit_is_kept_whole() -> None:
    fingerprints = tuple(f"{index:064x}" for index in range(400))  # about 27 KB of JSON
    cert = replace(wildcard("app.example.com"), fingerprints=fingerprints)
    evidence = evidence_of(cert, None, [])
    assert evidence["fingerprints"] == list(fingerprints)
    assert sorted(evidence) == [
        "certificate_id",
        "effective_not_after",
        "endpoints",
        "fingerprints",
    ]


def run_facts(policy: Policy | None = None) -> RunFacts:
    return RunFacts.gather(inventory(), policy or Policy(), NOW, False)


def action(
    kind: ActionKind,
    *,
    certificate: CertificateSummary | None = None,
    fields: dict[str, Change] | None = None,
    related: tuple[CertificateSummary, ...] = (),
) -> Action:
    summary = certificate or CertificateSummary(ID, ("a.example.com",))
    return Action(kind, "OPS-7", summary, f"{kind} reason", fields or {}, related=related)


def comment_of(*actions: Action, policy: Policy | None = None) -> str:
    return with_comments(run_facts(policy), list(actions))[0].comment


def test_a_comment_names_each_change_once_by_its_field_name() -> None:
    update = action(
        ActionKind.UPDATE,
        fields={
            "summary": Change("old title", "new title"),
            "duedate": Change("2026-12-01", "2026-11-14"),
            "assignee": Change(None, "alice"),
            "status": Change("Done", "To Do"),
            "labels": Change(["keep"], ["keep", "ticketbridge", "tb-x"]),
            "priority": Change("Low", "High"),
            "unchanged": Change("same", "same"),
        },
    )
    escalate = action(ActionKind.ESCALATE, fields={"priority": Change("High", "Highest")})
    text = comment_of(escalate, update)
    assert text.split("\n\n")[:3] == [
        "ticketbridge update, escalate (2026-11-26T21:30:00Z)",
        "- update: update reason.\n- escalate: escalate reason.",
        "Changes:\n"
        "- assignee: (none) -> alice\n"
        "- due date: 2026-12-01 -> 2026-11-14\n"
        "- labels: added ticketbridge, tb-x\n"
        "- priority: Low -> Highest\n"
        "- status: Done -> To Do\n"
        "- summary: old title -> new title",
    ]


def test_labels_added_to_none_and_a_long_value_are_shown_cut() -> None:
    long = "v" * 300
    text = comment_of(
        action(
            ActionKind.UPDATE, fields={"labels": Change(None, ["a", "b"]), "x": Change(long, "y")}
        )
    )
    assert "- labels: added a, b\n" in text
    assert f"- x: {'v' * 199}… -> y\n" in text
    # Labels are only ever added; a field cleared to nothing reads as nothing added.
    cleared = comment_of(action(ActionKind.UPDATE, fields={"labels": Change(["a"], None)}))
    assert "\n- labels: added \n" in cleared


def test_a_comment_without_changes_has_no_changes_section() -> None:
    assert "Changes:" not in comment_of(action(ActionKind.RESOLVE))


def test_actions_on_one_ticket_share_one_comment_and_report_only_ones_get_none() -> None:
    first, second = action(ActionKind.UPDATE), action(ActionKind.ESCALATE)
    other = replace(action(ActionKind.UPDATE), ticket="OPS-8")
    report = replace(action(ActionKind.UNOBSERVED), ticket=None)
    done = with_comments(run_facts(), [first, report, other, second])
    assert done[0].comment == done[3].comment
    assert done[0].comment.startswith("ticketbridge update, escalate (")
    assert done[2].comment.startswith("ticketbridge update (")
    assert done[1].comment == ""
    assert [a.kind for a in done] == [first.kind, report.kind, other.kind, second.kind]


def test_the_certificate_block_lists_names_expiry_fingerprints_and_who_serves_what() -> None:
    summary = CertificateSummary(
        ID,
        ("*.example.com", "example.com"),
        WILDCARD_EXPIRY,
        (FINGERPRINT, "cd" * 32),
        served=(
            ServedEndpoint("app.example.com:443@192.0.2.10", FINGERPRINT, WILDCARD_EXPIRY),
            ServedEndpoint("api.example.com:443@192.0.2.11", None, None),
        ),
        strays=(StraySummary("CN=Stray", "cd" * 32, NOW + timedelta(days=1)),),
    )
    text = comment_of(action(ActionKind.RESOLVE, certificate=summary))
    assert text.split("\n\n")[2] == "\n".join(
        [
            f"Certificate {ID}: *.example.com, example.com",
            "Effective expiry: 2026-12-05T21:44:22Z",
            f"Fingerprints (SHA-256): {FINGERPRINT}, {'cd' * 32}",
            "Served by:",
            f"- app.example.com:443@192.0.2.10 sha256 {FINGERPRINT} expires 2026-12-05T21:44:22Z",
            "- api.example.com:443@192.0.2.11",
            "Also served, on no path from the certificate (not counted):",
            f"- CN=Stray sha256 {'cd' * 32} expires 2026-11-27T21:30:00Z",
        ]
    )


def test_an_unknown_certificate_block_says_so_and_lists_the_tracked_endpoints() -> None:
    summary = CertificateSummary(ID, endpoints=("a:443@192.0.2.1", "b:443@192.0.2.2"))
    text = comment_of(action(ActionKind.RESOLVE, certificate=summary))
    assert text.split("\n\n")[2] == (
        f"Certificate {ID}: (names unknown)\nEndpoints tracked: a:443@192.0.2.1, b:443@192.0.2.2"
    )


def test_outside_utc_the_expiry_is_also_given_in_the_policys_zone() -> None:
    summary = CertificateSummary(ID, ("a.example.com",), WILDCARD_EXPIRY)
    text = comment_of(
        action(ActionKind.RESOLVE, certificate=summary), policy=Policy(timezone="Pacific/Auckland")
    )
    assert (
        "Effective expiry: 2026-12-05T21:44:22Z (2026-12-06 10:44 NZDT, Pacific/Auckland)\n"
        in text + "\n"
    )


def test_fifty_served_endpoints_and_strays_are_listed_then_the_rest_counted() -> None:
    served_ = tuple(
        ServedEndpoint(f"n{index:04}:443@192.0.2.1", None, None) for index in range(1_051)
    )
    strays = tuple(StraySummary(f"CN=s{index:02}", "cd" * 32, NOW) for index in range(51))
    summary = CertificateSummary(ID, ("a.example.com",), served=served_, strays=strays)
    lines = comment_of(action(ActionKind.RESOLVE, certificate=summary)).splitlines()
    at = lines.index("Served by:")
    assert lines[at + 1] == "- n0000:443@192.0.2.1" and lines[at + 50] == "- n0049:443@192.0.2.1"
    assert lines[at + 51] == "- and 1,001 more"
    stray_lines = [line for line in lines if line.startswith("- CN=s")]
    assert len(stray_lines) == 50 and stray_lines[-1].startswith("- CN=s49 ")
    exactly = replace(summary, served=served_[:50])
    lines = comment_of(action(ActionKind.RESOLVE, certificate=exactly)).splitlines()
    assert not [line for line in lines if line.startswith("- and ")]


def test_a_certificate_now_served_instead_gets_its_own_block() -> None:
    related = CertificateSummary("fedcba9876543210", ("new.example.com",))
    text = comment_of(action(ActionKind.RESOLVE, related=(related,)))
    assert text.endswith("\n\nNow served instead:\nCertificate fedcba9876543210: new.example.com")
