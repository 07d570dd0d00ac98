"""The words an SRE reads in a ticket: the name a certificate goes by, its summary, each reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from support.builders import (
    NOW,
    RENEWED_EXPIRY,
    WILDCARD,
    WILDCARD_EXPIRY,
    WWW,
    WWW_EXPIRY,
    facts,
    inventory,
    served,
)
from ticketbridge.core.explain import (
    description,
    display,
    display_summary,
    due_explanation,
    earlier_reason,
    expiry_phrase,
    iso,
    join,
    ticket_summary,
    when,
)
from ticketbridge.core.index import RunFacts
from ticketbridge.core.inventory import InventoryPin
from ticketbridge.core.model import Observation, TrackedCert
from ticketbridge.core.plan import CertificateSummary
from ticketbridge.core.policy import Policy

ID = "0123456789abcdef"
LONG = "x" * 300 + ".example.com"


def run(
    *observations: Observation,
    policy: Policy | None = None,
    owner: str | None = None,
    lead_days: int | None = None,
) -> RunFacts:
    """The facts of a run, with the wildcard certificate pinned to `owner` and `lead_days`."""
    pin = InventoryPin(names=WILDCARD, owner=owner, lead_days=lead_days)
    return RunFacts.gather(inventory(*observations, pins=[pin]), policy or Policy(), NOW, False)


def only(facts_: RunFacts, names: tuple[str, ...] = WILDCARD) -> TrackedCert:
    return next(cert for cert in facts_.certs.values() if cert.names == tuple(sorted(names)))


def named(names: tuple[str, ...], common_name: str = "unlisted.example.net") -> TrackedCert:
    """A certificate as the inventory never sorts it: `display` must not rely on the order."""
    leaf = facts(names, WILDCARD_EXPIRY, common_name)
    seen = Observation(
        served("app.example.com", "192.0.2.10", names, WILDCARD_EXPIRY).endpoint,
        NOW,
        "ok",
        certificate=leaf,
        effective_not_after=WILDCARD_EXPIRY,
    )
    return TrackedCert(ID, names, WILDCARD_EXPIRY, (), (seen.endpoint,), (seen,))


def test_join_skips_empty_parts_and_separates_the_rest_with_semicolons() -> None:
    assert join("first", "", "second", "") == "first; second"
    assert join("", "") == ""


def test_a_missing_date_stays_missing_and_a_date_reads_iso() -> None:
    assert iso(date(2026, 12, 5)) == "2026-12-05"
    assert iso(None) is None


def test_a_certificate_goes_by_its_common_name_when_the_names_list_it() -> None:
    cert = named(("zz.example.com", "*.example.com", "api.example.com"), " API.Example.COM ")
    assert display(cert) == "api.example.com"


def test_a_common_name_not_among_the_names_is_passed_over_for_the_first_wildcard() -> None:
    cert = named(("a.example.com", "*.b.example.com", "*.a.example.com"), "legacy.example.net")
    assert display(cert) == "*.b.example.com"


def test_a_later_endpoints_common_name_counts_when_the_first_one_has_none() -> None:
    names = ("zz.example.com", "api.example.com")
    cert = named(names, "api.example.com")
    blank = replace(cert.observations[0], certificate=None)
    nameless = replace(facts(names, WILDCARD_EXPIRY), common_name=None)
    anonymous = replace(cert.observations[0], certificate=nameless)
    cert = replace(cert, observations=(blank, anonymous, *cert.observations))
    assert display(cert) == "api.example.com"


def test_without_a_wildcard_the_shortest_name_wins_and_ties_go_alphabetically() -> None:
    assert display(named(("zz.test", "long.example.test", "aa.test"), "cn.other")) == "aa.test"
    assert display(named(("aaaa.test", "b.test"), "cn.other")) == "b.test"


def test_a_long_name_is_cut_with_an_ellipsis_and_no_names_fall_back_to_the_id() -> None:
    assert display(named((LONG,), LONG)) == "x" * 199 + "…"
    assert display(named(("*." + LONG, "a.test"))) == "*." + "x" * 197 + "…"
    assert display(named(("b.test", LONG), "cn.other")) == "b.test"
    assert display(replace(named(("a.test",)), names=(), observations=())) == ID


def test_a_summary_shows_the_first_wildcard_else_the_shortest_name_else_its_id() -> None:
    summary = CertificateSummary(ID, ("api.example.com", "*.b.example", "*.a.example"))
    assert display_summary(summary) == "*.b.example"
    assert display_summary(replace(summary, names=("zz.test", "long.test", "aa.test"))) == "aa.test"
    assert display_summary(replace(summary, names=("aaaa.test", "b.test"))) == "b.test"
    assert display_summary(replace(summary, names=(LONG,))) == "x" * 199 + "…"
    assert display_summary(replace(summary, names=("*." + LONG,))) == "*." + "x" * 197 + "…"
    assert display_summary(replace(summary, names=())) == f"certificate {ID}"


def test_the_expiry_verb_agrees_with_the_tense() -> None:
    soon = only(run(served("app.example.com", "192.0.2.10", WILDCARD, NOW + timedelta(days=9))))
    gone = replace(soon, effective_not_after=NOW - timedelta(days=2373))
    hours = replace(soon, effective_not_after=NOW + timedelta(hours=5))
    facts_ = run(served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY))
    assert expiry_phrase(soon, facts_) == "expires in 9 days"
    assert expiry_phrase(gone, facts_) == "expired 2373 days ago"
    assert expiry_phrase(hours, facts_) == "expires in 5 hours"
    assert when(soon, facts_) == f"{NOW + timedelta(days=9):%Y-%m-%dT%H:%M:%SZ} (in 9 days)"


def test_a_ticket_summary_counts_the_other_names_in_singular_and_plural() -> None:
    assert ticket_summary(named(("www.example.com",))) == "Renew TLS certificate www.example.com"
    assert (
        ticket_summary(named(("example.com", "*.example.com")))
        == "Renew TLS certificate *.example.com (+1 name)"
    )
    assert (
        ticket_summary(named(("a.example.com", "b.example.com", "*.example.com")))
        == "Renew TLS certificate *.example.com (+2 names)"
    )
    assert ticket_summary(replace(named(("a.test",)), names=())) == f"Renew TLS certificate {ID}"


def test_a_ticket_summary_for_a_very_long_name_stays_within_jiras_255_characters() -> None:
    title = ticket_summary(named((LONG, "b.test"), LONG))
    assert title == "Renew TLS certificate " + "x" * 199 + "… (+1 name)"
    assert len(title) <= 255


def test_the_due_date_is_explained_in_the_policys_zone_with_the_pinned_lead_time() -> None:
    policy = Policy(timezone="Pacific/Auckland")
    facts_ = run(
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        policy=policy,
        lead_days=10,
    )
    # 2026-12-05T21:44:22Z is the morning of 2026-12-06 in Auckland (UTC+13 in summer).
    assert due_explanation(only(facts_), facts_) == (
        "*.example.com expires 2026-12-06 (Pacific/Auckland), so it is due 2026-11-26 "
        "with 10 days' lead time"
    )


def test_a_due_date_copied_from_another_certificate_names_that_one_and_who_serves_this() -> None:
    facts_ = run(
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        served("www.example.com", "192.0.2.20", WWW, WWW_EXPIRY),
    )
    assert earlier_reason(facts_, only(facts_), date(2027, 9, 1)) == (
        "due date tracked a certificate that expires 2027-09-22 (www.example.com); "
        "app.example.com serves one expiring 2026-12-05"
    )


def test_two_hosts_serve_and_only_those_serving_the_earliest_copy_are_named() -> None:
    facts_ = run(
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        served("api.example.com", "192.0.2.11", WILDCARD, WILDCARD_EXPIRY),
        served("new.example.com", "192.0.2.12", WILDCARD, RENEWED_EXPIRY),
        served("www.example.com", "192.0.2.20", WWW, WWW_EXPIRY),
    )
    assert earlier_reason(facts_, only(facts_), date(2027, 9, 1)) == (
        "due date tracked a certificate that expires 2027-09-22 (www.example.com); "
        "api.example.com and app.example.com serve one expiring 2026-12-05"
    )


def test_of_several_certificates_due_that_day_the_lowest_id_is_named() -> None:
    shop = ("shop.example.com",)
    facts_ = run(
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        served("www.example.com", "192.0.2.20", WWW, WWW_EXPIRY),
        served("shop.example.com", "192.0.2.21", shop, WWW_EXPIRY),
    )
    first = min(facts_.by_required[date(2027, 9, 1)])
    facts_.by_required[date(2027, 9, 1)].sort(reverse=True)  # whatever order they came in
    assert f"({display(facts_.certs[first])});" in earlier_reason(
        facts_, only(facts_), date(2027, 9, 1)
    )


def test_a_later_due_date_no_certificate_explains_spells_out_the_required_one() -> None:
    hosts = [f"h{index}.example.com" for index in range(4)]
    observations = [
        served(host, f"192.0.2.{10 + index}", WILDCARD, WILDCARD_EXPIRY)
        for index, host in enumerate(hosts)
    ]
    four = run(*observations)
    assert earlier_reason(four, only(four), date(2027, 1, 1)) == (
        "due date 2027-01-01 is later than required; *.example.com expires 2026-12-05 (UTC), "
        "so it is due 2026-11-14 with 21 days' lead time, as served by h0.example.com and "
        "h1.example.com and h2.example.com and others"
    )
    three = run(*observations[:3])
    assert earlier_reason(three, only(three), date(2027, 1, 1)).endswith(
        "as served by h0.example.com and h1.example.com and h2.example.com"
    )


def test_without_observations_the_endpoints_are_named_and_without_either_the_id() -> None:
    facts_ = run(served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY))
    cert = replace(only(facts_), observations=())
    assert earlier_reason(facts_, cert, date(2027, 1, 1)).endswith(", as served by app.example.com")
    bare = replace(cert, endpoints=())
    assert earlier_reason(facts_, bare, date(2027, 1, 1)).endswith(f", as served by {bare.id}")


def test_a_long_host_name_is_cut_in_a_reason() -> None:
    host = "h" * 300 + ".example.com"
    facts_ = run(served(host, "192.0.2.10", WILDCARD, WILDCARD_EXPIRY))
    reason = earlier_reason(facts_, only(facts_), date(2027, 1, 1))
    assert reason.endswith(", as served by " + "h" * 199 + "…")


def test_a_description_lists_the_names_endpoints_due_date_and_the_marker_to_keep() -> None:
    facts_ = run(
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        served("api.example.com", "192.0.2.11", WILDCARD, WILDCARD_EXPIRY),
        owner="team-edge@example.com",
    )
    cert = only(facts_)
    assert description(cert, facts_) == "\n".join(
        [
            "The TLS certificate for *.example.com, example.com expires 2026-12-05T21:44:22Z and "
            "must be renewed and deployed to every endpoint serving it by 2026-11-14.",
            "Owner: team-edge@example.com",
            "",
            "Endpoints serving it when this ticket was filed:",
            "- api.example.com:443@192.0.2.11",
            "- app.example.com:443@192.0.2.10",
            "",
            f"ticketbridge tracks this renewal with the label tb-{cert.id}: keep it. The ticket "
            "is resolved automatically once every endpoint serves the renewed certificate.",
        ]
    )


def test_a_description_lists_fifty_endpoints_then_counts_the_rest() -> None:
    observations = [
        served(f"n{index:04}.example.com", "192.0.2.1", WILDCARD, WILDCARD_EXPIRY)
        for index in range(1_051)
    ]
    facts_ = run(*observations)
    lines = description(only(facts_), facts_).splitlines()
    listed = [line for line in lines if line.startswith("- ")]
    assert listed[0] == "- n0000.example.com:443@192.0.2.1"
    assert listed[49] == "- n0049.example.com:443@192.0.2.1"
    assert listed[50:] == ["- and 1,001 more"]
    exactly = run(*observations[:50])
    assert [
        line for line in description(only(exactly), exactly).splitlines() if "more" in line
    ] == []


def test_a_description_cuts_a_long_endpoint_label() -> None:
    facts_ = run(served("h" * 300, "192.0.2.1", WILDCARD, WILDCARD_EXPIRY))
    assert "- " + "h" * 199 + "…" in description(only(facts_), facts_).splitlines()
