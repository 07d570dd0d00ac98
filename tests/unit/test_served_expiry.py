"""Effective expiry off the validated path, and strays: what the core makes of them (SPEC)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from support.builders import facts, served
from support.decide_kit import NOW, WILDCARD, at, iso, open_ticket, plan
from ticketbridge.core.model import CertFacts, Observation, TrackedCert
from ticketbridge.core.plan import ActionKind
from ticketbridge.core.policy import Policy, page_due
from ticketbridge.core.shapes import certificate_to_json, observation_from_json, observation_to_json

LEAF_EXPIRY = at(60)
OLD_EXPIRY = at(-2)
OLD = replace(facts(["old-intermediate"], OLD_EXPIRY), subject="CN=Old Intermediate,O=Test")
NEW = replace(facts(["new-intermediate"], at(900)), subject="CN=New Intermediate,O=Test")
STRAY = replace(facts(["stray"], at(-30)), subject="CN=Somebody Else")


def off_path(
    host: str = "app.example.com",
    address: str = "192.0.2.10",
    *,
    leaf_expiry: datetime = LEAF_EXPIRY,
    old: CertFacts = OLD,
    strays: tuple[CertFacts, ...] = (),
) -> Observation:
    """The leaf, its valid issuer and an expired same-name intermediate that older clients use."""
    observation = served(host, address, WILDCARD, leaf_expiry)
    assert observation.certificate is not None
    return replace(
        observation,
        chain=(observation.certificate, NEW, old, *strays),
        effective_not_after=min(old.not_after, leaf_expiry),
        validated_path_not_after=leaf_expiry,
        strays=strays,
    )


def tracked(*observations: Observation, effective: datetime) -> TrackedCert:
    return TrackedCert(
        id="0123456789abcdef",
        names=WILDCARD,
        effective_not_after=effective,
        fingerprints=(),
        endpoints=tuple(o.endpoint for o in observations),
        observations=observations,
    )


# --- the model ------------------------------------------------------------------------------------


def test_the_certificate_off_the_validated_path_is_the_one_setting_the_effective_expiry() -> None:
    assert off_path().off_path_expiry == OLD


def test_a_stray_with_the_same_expiry_is_never_named_as_off_the_path() -> None:
    stray = replace(STRAY, not_after=OLD_EXPIRY)
    observation = replace(off_path(strays=(stray,)), chain=(off_path().chain[0], stray, NEW, OLD))
    assert observation.off_path_expiry == OLD


@pytest.mark.parametrize(
    ("effective", "validated"),
    [(None, LEAF_EXPIRY), (OLD_EXPIRY, None), (LEAF_EXPIRY, LEAF_EXPIRY), (at(61), LEAF_EXPIRY)],
)
def test_nothing_is_off_the_path_unless_the_effective_expiry_is_earlier(
    effective: datetime | None, validated: datetime | None
) -> None:
    observation = replace(
        off_path(), effective_not_after=effective, validated_path_not_after=validated
    )
    assert observation.off_path_expiry is None


def test_paging_expiry_of_an_observation_falls_back_to_the_effective_expiry() -> None:
    assert off_path().paging_not_after == LEAF_EXPIRY
    old_json = replace(off_path(), validated_path_not_after=None)
    assert old_json.paging_not_after == OLD_EXPIRY


def test_validated_expiry_of_a_tracked_certificate_is_the_earliest_over_its_endpoints() -> None:
    first = off_path(leaf_expiry=at(60))
    second = off_path("api.example.com", "192.0.2.11", leaf_expiry=at(40))
    assert tracked(first, second, effective=OLD_EXPIRY).validated_path_not_after == at(40)


def test_validated_expiry_without_observations_is_the_effective_expiry() -> None:
    assert tracked(effective=at(5)).validated_path_not_after == at(5)


def test_validated_expiry_is_never_earlier_than_the_effective_expiry() -> None:
    inconsistent = replace(off_path(), validated_path_not_after=at(1))
    assert tracked(inconsistent, effective=at(3)).validated_path_not_after == at(3)


def test_strays_are_reported_once_each_earliest_first() -> None:
    later = replace(STRAY, fingerprint_sha256="f" * 64, not_after=at(10))
    cert = tracked(
        off_path(strays=(later, STRAY)),
        off_path("api.example.com", "192.0.2.11", strays=(STRAY,)),
        effective=OLD_EXPIRY,
    )
    assert cert.strays == (STRAY, later)


def test_page_due_follows_the_validated_path() -> None:
    policy = Policy(page_within_days=3)
    assert not page_due(tracked(off_path(), effective=OLD_EXPIRY), policy, NOW)
    near = off_path(leaf_expiry=at(2))
    assert page_due(tracked(near, effective=OLD_EXPIRY), policy, NOW)


# --- JSON ---------------------------------------------------------------------------------------


def test_observation_json_carries_strays_and_the_validated_expiry_both_ways() -> None:
    observation = off_path(strays=(STRAY,))
    data = observation_to_json(observation)
    assert data["validated_path_not_after"] == iso(LEAF_EXPIRY)
    assert [stray["subject"] for stray in data["strays"]] == ["CN=Somebody Else"]
    assert observation_from_json(data) == observation


def test_certificate_json_lists_strays_beside_the_effective_expiry() -> None:
    data = certificate_to_json(tracked(off_path(strays=(STRAY,)), effective=OLD_EXPIRY))
    assert data["effective_not_after"] == iso(OLD_EXPIRY)
    assert data["validated_path_not_after"] == iso(LEAF_EXPIRY)
    assert data["strays"] == [
        {
            "fingerprint_sha256": STRAY.fingerprint_sha256,
            "subject": "CN=Somebody Else",
            "issuer": STRAY.issuer,
            "not_after": iso(STRAY.not_after),
        }
    ]


# --- decisions ------------------------------------------------------------------------------------

ADVICE = (
    "the served chain still includes CN=Old Intermediate,O=Test (expired "
    f"{iso(OLD_EXPIRY)}), which older clients may use: remove it from the chain or renew it"
)


def test_an_expired_intermediate_off_the_validated_path_files_a_ticket_saying_what_to_do() -> None:
    result = plan([off_path(), off_path("api.example.com", "192.0.2.11")])

    kinds = [action.kind for action in result.actions]
    assert ActionKind.CREATE in kinds
    assert ActionKind.PAGE not in kinds  # the validated path has 60 days left
    create = next(a for a in result.actions if a.kind is ActionKind.CREATE)
    assert create.reason.endswith(ADVICE)
    assert create.new_ticket is not None
    assert ADVICE[0].upper() + ADVICE[1:] + "." in create.new_ticket.description
    assert create.certificate.effective_not_after == OLD_EXPIRY
    assert "Also served" not in (create.comment or "")


def test_a_future_off_path_expiry_is_written_in_the_future_tense() -> None:
    soon = replace(OLD, not_after=at(20))
    create = next(a for a in plan([off_path(old=soon)]).actions if a.kind is ActionKind.CREATE)
    assert f"(expires {iso(at(20))})" in create.reason


def test_paging_waits_until_the_validated_path_is_within_the_window() -> None:
    result = plan([off_path(leaf_expiry=at(2))])

    page = next(a for a in result.actions if a.kind is ActionKind.PAGE)
    assert page.reason == (
        "*.example.com expires in 2 days and is within the 3-day paging window: on-call is paged"
    )
    assert page.page is not None
    assert page.page.summary == f"*.example.com expires {iso(at(2))} (in 2 days)"


def test_an_expired_validated_path_pages_as_expired() -> None:
    result = plan([off_path(leaf_expiry=at(-1), old=replace(OLD, not_after=at(-3)))])

    page = next(a for a in result.actions if a.kind is ActionKind.PAGE)
    assert page.reason == "*.example.com expired 1 day ago: on-call is paged"


def test_a_corrected_due_date_gives_the_same_advice() -> None:
    ticket = open_ticket(due=(LEAF_EXPIRY - timedelta(days=21)).date())
    result = plan([off_path(), off_path("api.example.com", "192.0.2.11")], [ticket])

    update = next(a for a in result.actions if a.kind is ActionKind.UPDATE)
    assert update.fields["duedate"].after == (OLD_EXPIRY - timedelta(days=21)).date().isoformat()
    assert update.reason.endswith(ADVICE)
    assert ActionKind.PAGE not in [action.kind for action in result.actions]


def test_an_open_ticket_is_paged_once_the_validated_path_is_within_the_window() -> None:
    ticket = open_ticket(due=(OLD_EXPIRY - timedelta(days=21)).date())
    result = plan([off_path(leaf_expiry=at(2))], [ticket])

    page = next(a for a in result.actions if a.kind is ActionKind.PAGE)
    assert page.ticket == ticket.key
    assert page.page is not None
    assert page.page.summary.endswith(f"(in 2 days); renewal ticket {ticket.key}")


def test_strays_are_listed_in_the_evidence_and_change_no_date() -> None:
    observation = replace(off_path(strays=(STRAY,)), effective_not_after=at(30))
    observation = replace(observation, validated_path_not_after=at(30), chain=observation.chain[:2])
    result = plan([observation])

    create = next(a for a in result.actions if a.kind is ActionKind.CREATE)
    assert create.fields["duedate"].after == (at(30) - timedelta(days=21)).date().isoformat()
    assert "still includes" not in create.reason
    assert create.comment is not None
    assert (
        f"- CN=Somebody Else sha256 {STRAY.fingerprint_sha256} expires {iso(STRAY.not_after)}"
        in create.comment
    )
    assert create.certificate.as_dict()["strays"] == [
        {
            "subject": "CN=Somebody Else",
            "fingerprint_sha256": STRAY.fingerprint_sha256,
            "not_after": iso(STRAY.not_after),
        }
    ]


def test_no_advice_when_another_endpoint_sets_the_earlier_expiry() -> None:
    # app's chain carries an old intermediate expiring in 20 days, but api serves a leaf that
    # expires in 10: the due date follows api's leaf, and the advice would mislead.
    app = off_path(old=replace(OLD, not_after=at(20)))
    api = served("api.example.com", "192.0.2.11", WILDCARD, at(10))
    create = next(a for a in plan([app, api]).actions if a.kind is ActionKind.CREATE)

    assert create.certificate.effective_not_after == at(10)
    assert "still includes" not in create.reason
