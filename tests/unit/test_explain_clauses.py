"""The clauses that tell an SRE why a renewal is not done: an old chain member, stale endpoints."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from support.builders import (
    NOW,
    RENEWED_EXPIRY,
    WILDCARD,
    WILDCARD_EXPIRY,
    facts,
    inventory,
    served,
)
from ticketbridge.core.explain import description, off_path_clause, stale_clause
from ticketbridge.core.index import RunFacts
from ticketbridge.core.model import Observation, TrackedCert
from ticketbridge.core.policy import Policy

LATER = WILDCARD_EXPIRY + timedelta(days=300)


def z(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def with_old_intermediate(host: str, subject: str, expiry: datetime) -> Observation:
    """A leaf valid until LATER whose served chain also carries an intermediate expiring
    `expiry`, off the path clients validate (a cross-sign only older clients build through)."""
    plain = served(host, "192.0.2.10", WILDCARD, LATER)
    old = replace(facts(("ca",), expiry), subject=subject, fingerprint_sha256=subject * 4)
    return replace(
        plain,
        chain=(facts(WILDCARD, LATER), old),
        effective_not_after=expiry,
        validated_path_not_after=LATER,
    )


def gathered(*observations: Observation) -> tuple[TrackedCert, RunFacts]:
    facts_ = RunFacts.gather(inventory(*observations), Policy(), NOW, False)
    (cert,) = facts_.certs.values()
    return cert, facts_


def test_an_expiring_intermediate_off_the_validated_path_is_named_with_what_to_do() -> None:
    cert, facts_ = gathered(with_old_intermediate("app.example.com", "CN=Old CA", WILDCARD_EXPIRY))
    assert off_path_clause(cert, facts_) == (
        f"the served chain still includes CN=Old CA (expires {z(WILDCARD_EXPIRY)}), which older "
        "clients may use: remove it from the chain or renew it"
    )


def test_an_intermediate_expiring_now_reads_expired() -> None:
    cert, facts_ = gathered(with_old_intermediate("app.example.com", "CN=Old CA", NOW))
    assert off_path_clause(cert, facts_).startswith(
        f"the served chain still includes CN=Old CA (expired {z(NOW)}), which"
    )


def test_of_two_old_intermediates_expiring_together_the_first_subject_is_named() -> None:
    cert, facts_ = gathered(
        with_old_intermediate("app.example.com", "CN=Zeta CA", WILDCARD_EXPIRY),
        with_old_intermediate("api.example.com", "CN=Alpha CA", WILDCARD_EXPIRY),
    )
    assert "includes CN=Alpha CA (expires" in off_path_clause(cert, facts_)


def test_an_old_intermediate_that_does_not_set_the_expiry_is_not_blamed() -> None:
    # api serves the certificate itself expiring first; app's old intermediate expires later.
    cert, facts_ = gathered(
        with_old_intermediate("app.example.com", "CN=Old CA", WILDCARD_EXPIRY + timedelta(days=9)),
        served("api.example.com", "192.0.2.11", WILDCARD, WILDCARD_EXPIRY),
    )
    assert off_path_clause(cert, facts_) == ""


def test_a_long_subject_is_cut() -> None:
    subject = "CN=" + "o" * 300
    cert, facts_ = gathered(with_old_intermediate("app.example.com", subject, WILDCARD_EXPIRY))
    assert f"includes CN={'o' * 196}… (expires" in off_path_clause(cert, facts_)


def test_a_description_says_what_to_do_about_the_old_intermediate_as_its_second_paragraph() -> None:
    cert, facts_ = gathered(with_old_intermediate("app.example.com", "CN=Old CA", WILDCARD_EXPIRY))
    lines = description(cert, facts_).splitlines()
    assert lines[1:5] == [
        "",
        f"The served chain still includes CN=Old CA (expires {z(WILDCARD_EXPIRY)}), which older "
        "clients may use: remove it from the chain or renew it.",
        "",
        "Endpoints serving it when this ticket was filed:",
    ]


def stale_with(*later: tuple[str, datetime, str]) -> TrackedCert:
    """old.example.com still serves the certificate expiring WILDCARD_EXPIRY; each of `later`
    (host, expiry, fingerprint) serves a later copy."""
    observations = [served("old.example.com", "192.0.2.1", WILDCARD, WILDCARD_EXPIRY)]
    for index, (host, expiry, fingerprint) in enumerate(later):
        plain = served(host, f"192.0.2.{10 + index}", WILDCARD, expiry)
        leaf = replace(facts(WILDCARD, expiry), fingerprint_sha256=fingerprint)
        observations.append(replace(plain, certificate=leaf, chain=(leaf,)))
    cert, _ = gathered(*observations)
    return cert


def at(cert: TrackedCert, host: str) -> Observation:
    return next(o for o in cert.observations if o.endpoint.host == host)


def test_one_expiry_everywhere_needs_no_stale_clause() -> None:
    cert, _ = gathered(
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        served("api.example.com", "192.0.2.11", WILDCARD, WILDCARD_EXPIRY),
    )
    assert stale_clause(cert) == ""


def test_one_stale_endpoint_beside_one_renewed_endpoint() -> None:
    assert stale_clause(stale_with(("new.example.com", RENEWED_EXPIRY, "a" * 64))) == (
        f"old.example.com:443@192.0.2.1 still serves the certificate expiring "
        f"{z(WILDCARD_EXPIRY)} while 1 other endpoint serves one expiring {z(RENEWED_EXPIRY)}, "
        "so the renewal is not done"
    )


def test_two_stale_endpoints_beside_two_endpoints_serving_one_renewal() -> None:
    cert = stale_with(
        ("n1.example.com", RENEWED_EXPIRY, "a" * 64), ("n2.example.com", RENEWED_EXPIRY, "a" * 64)
    )
    twice = served("old.example.com", "192.0.2.2", WILDCARD, WILDCARD_EXPIRY)
    cert, _ = gathered(*cert.observations, twice)
    assert stale_clause(cert) == (
        "old.example.com:443@192.0.2.1, old.example.com:443@192.0.2.2 still serve the certificate "
        f"expiring {z(WILDCARD_EXPIRY)} while 2 other endpoints serve one expiring "
        f"{z(RENEWED_EXPIRY)}, so the renewal is not done"
    )


def test_different_renewals_expiring_together_are_counted() -> None:
    cert = stale_with(
        ("n1.example.com", RENEWED_EXPIRY, "a" * 64), ("n2.example.com", RENEWED_EXPIRY, "b" * 64)
    )
    assert (
        f"while 2 other endpoints serve 2 different certificates, all expiring "
        f"{z(RENEWED_EXPIRY)}, so" in stale_clause(cert)
    )


def test_renewals_expiring_on_different_days_give_the_range() -> None:
    middle = RENEWED_EXPIRY + timedelta(days=1)
    last = RENEWED_EXPIRY + timedelta(days=2)
    cert = stale_with(
        ("n1.example.com", last, "c" * 64),
        ("n2.example.com", RENEWED_EXPIRY, "a" * 64),
        ("n3.example.com", middle, "b" * 64),
    )
    assert (
        f"while 3 other endpoints serve 3 different certificates expiring "
        f"{z(RENEWED_EXPIRY)} to {z(last)}, so" in stale_clause(cert)
    )


def test_a_renewal_observed_without_its_certificate_still_counts_by_expiry() -> None:
    cert = stale_with(("n1.example.com", RENEWED_EXPIRY, "a" * 64))
    bare = replace(at(cert, "n1.example.com"), certificate=None)
    cert = replace(cert, observations=(*cert.observations, bare))
    assert "while 1 other endpoint serves 2 different certificates, all expiring" in stale_clause(
        cert
    )


def test_an_observation_without_an_expiry_is_left_out_of_the_clause() -> None:
    cert = stale_with(("n1.example.com", RENEWED_EXPIRY, "a" * 64))
    unknown = replace(at(cert, "n1.example.com"), effective_not_after=None)
    with_unknown = replace(cert, observations=(*cert.observations, unknown))
    assert stale_clause(with_unknown) == stale_clause(cert)
    alone = replace(cert, observations=(at(cert, "old.example.com"), unknown))
    assert stale_clause(alone) == ""


def test_many_stale_endpoints_are_listed_until_the_line_is_full_then_counted() -> None:
    observations = [
        served(f"n{index:02}.example.com", "192.0.2.1", WILDCARD, WILDCARD_EXPIRY)
        for index in range(30)
    ]
    observations.append(served("new.example.com", "192.0.2.9", WILDCARD, RENEWED_EXPIRY))
    cert, _ = gathered(*observations)
    clause = stale_clause(cert)
    # Each label is 29 characters and ", " joins them: 12 fit in 400 with " and 18 more".
    listed = ", ".join(f"n{index:02}.example.com:443@192.0.2.1" for index in range(12))
    assert clause.startswith(f"{listed} and 18 more still serve the certificate"), clause


def test_the_stale_clause_never_reads_the_certs_own_expiry_only_what_was_observed() -> None:
    cert = stale_with(("new.example.com", RENEWED_EXPIRY, "a" * 64))
    shifted = replace(cert, effective_not_after=NOW)
    assert stale_clause(shifted) == stale_clause(cert)


def stale_labels(*lengths: int) -> list[str]:
    """Endpoints still serving the old copy whose labels have these lengths (at least 16)."""
    hosts = [f"n{index}".ljust(length - 14, "x") for index, length in enumerate(lengths)]
    observations = [served(host, "192.0.2.1", WILDCARD, WILDCARD_EXPIRY) for host in hosts]
    observations.append(served("new.example.com", "192.0.2.9", WILDCARD, RENEWED_EXPIRY))
    cert, _ = gathered(*observations)
    labels = [label for label in cert.endpoint_labels if not label.startswith("new.")]
    assert [len(label) for label in labels] == list(lengths)
    return [stale_clause(cert), *labels]


def test_stale_endpoints_fill_four_hundred_characters_and_no_more() -> None:
    # Each label costs its length and a separator: ten of 38 characters take exactly 400.
    clause, *labels = stale_labels(*[38] * 10)
    assert clause.startswith(", ".join(labels) + " still serve the certificate")
    clause, *labels = stale_labels(*[38] * 9, 39)
    assert clause.startswith(", ".join(labels[:9]) + " and 1 more still serve the certificate")
