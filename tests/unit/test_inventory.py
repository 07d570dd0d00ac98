"""Observations to tracked certificates (SPEC "Tracked certificate", "Effective expiry")."""

from __future__ import annotations

from dataclasses import replace

from support.builders import NOW, WILDCARD, WWW, cert_id, endpoint, failed, fingerprint, served
from support.decide_kit import at
from ticketbridge.core.inventory import InventoryPin, build_inventory
from ticketbridge.core.model import Observation, TrackedCert

EARLY, LATE = at(10), at(40)


def test_pins_are_matched_by_their_canonical_name_set() -> None:
    pin = InventoryPin(names=(" Example.COM", "*.example.com ", "example.com"))
    assert pin.canonical == ("*.example.com", "example.com")


def test_one_certificate_on_several_endpoints_is_one_tracked_certificate_whole() -> None:
    observations = [
        served("app.example.com", "192.0.2.10", WILDCARD, LATE),
        served("api.example.com", "192.0.2.11", ("EXAMPLE.com", "*.example.com"), EARLY),
        served("app.example.com", "192.0.2.10", WILDCARD, LATE),  # probed twice
    ]
    pin = InventoryPin(
        names=("*.Example.com", "example.com"), owner="platform", assignee="alice", lead_days=30
    )

    (cert,) = build_inventory(observations, [pin]).certificates

    assert cert == TrackedCert(
        id=cert_id(WILDCARD),
        names=WILDCARD,
        effective_not_after=EARLY,  # the earliest over every endpoint serving it
        fingerprints=tuple(
            sorted(
                {fingerprint(WILDCARD, LATE), fingerprint(("EXAMPLE.com", "*.example.com"), EARLY)}
            )
        ),
        endpoints=(
            endpoint("api.example.com", "192.0.2.11"),
            endpoint("app.example.com", "192.0.2.10"),
        ),
        owner="platform",
        assignee="alice",
        lead_days=30,
    )
    assert [o.endpoint.host for o in cert.observations] == [
        "api.example.com",
        "app.example.com",
        "app.example.com",
    ]


def test_a_pin_may_give_the_id_and_other_name_sets_keep_theirs() -> None:
    observations = [
        served("app.example.com", "192.0.2.10", WILDCARD, EARLY),
        served("www.example.com", "192.0.2.20", WWW, LATE),
    ]
    pin = InventoryPin(names=WILDCARD, id="0123456789abcdef")
    wildcard, www = build_inventory(observations, [pin]).certificates
    assert (wildcard.id, wildcard.owner, wildcard.assignee, wildcard.lead_days) == (
        "0123456789abcdef",
        None,
        None,
        None,
    )
    assert (www.id, www.owner, www.lead_days) == (cert_id(WWW), None, None)


def test_a_pin_without_an_id_keeps_the_computed_one() -> None:
    observations = [served("app.example.com", "192.0.2.10", WILDCARD, EARLY)]
    (cert,) = build_inventory(
        observations, [InventoryPin(names=WILDCARD, owner="web")]
    ).certificates
    assert (cert.id, cert.owner) == (cert_id(WILDCARD), "web")


def test_certificates_come_soonest_first_then_by_id() -> None:
    observations = [
        served("www.example.com", "192.0.2.20", WWW, LATE),
        served("b.example.net", "198.51.100.2", ("b.example.net",), EARLY),
        served("a.example.net", "198.51.100.1", ("a.example.net",), EARLY),
    ]
    ids = [c.id for c in build_inventory(observations).certificates]
    assert ids == [
        *sorted([cert_id(("a.example.net",)), cert_id(("b.example.net",))]),
        cert_id(WWW),
    ]


def test_an_endpoint_without_its_own_effective_expiry_does_not_lower_the_certificates() -> None:
    partial = replace(
        served("api.example.com", "192.0.2.11", WILDCARD, EARLY), effective_not_after=None
    )
    observations = [served("app.example.com", "192.0.2.10", WILDCARD, LATE), partial]
    (cert,) = build_inventory(observations).certificates
    assert cert.effective_not_after == LATE
    assert len(cert.endpoints) == 2


def test_failures_and_certificate_less_successes_are_kept_apart_in_endpoint_order() -> None:
    empty = Observation(
        endpoint=endpoint("b.example.com", "192.0.2.2"), observed_at=NOW, status="ok"
    )
    observations = [
        failed("c.example.com", "192.0.2.3"),
        empty,
        failed("a.example.com", "192.0.2.1"),
        served("app.example.com", "192.0.2.10", WILDCARD, EARLY),
    ]
    inventory = build_inventory(observations)
    assert [o.endpoint.host for o in inventory.unobserved] == [
        "a.example.com",
        "b.example.com",
        "c.example.com",
    ]
    assert [c.names for c in inventory.certificates] == [WILDCARD]


def test_a_failed_probe_that_still_carries_a_certificate_is_a_failure() -> None:
    # A probe can fail after the certificate arrived (a reset during the handshake's end): its
    # status says it failed, and a failed probe is never evidence of what is served (SPEC).
    broken = replace(
        failed("api.example.com", "192.0.2.11"),
        certificate=served("api.example.com", "192.0.2.11", WILDCARD, EARLY).certificate,
    )
    inventory = build_inventory([served("app.example.com", "192.0.2.10", WILDCARD, LATE), broken])
    (cert,) = inventory.certificates
    assert cert.effective_not_after == LATE
    assert [o.endpoint.host for o in inventory.unobserved] == ["api.example.com"]
