"""The domain types' own rules: SPEC's protocol and error names, endpoint labels, which expiry an
observation pages on and which off-path certificate sets it, a ticket's markers and state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from support.builders import NOW, endpoint, facts, served, ticket
from ticketbridge.core.model import (
    MARKER_LABEL,
    MARKER_PREFIX,
    Endpoint,
    ErrorKind,
    Observation,
    Protocol,
    TrackedCert,
    is_ip_literal,
    marker_label,
)

WWW = ("www.example.com",)
EXPIRY = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)
LATER = EXPIRY + timedelta(days=30)


def test_protocol_and_error_names_are_specs() -> None:
    assert [str(p) for p in Protocol] == [
        "tls", "smtp", "imap", "pop3", "ftp", "postgres", "ldap", "xmpp", "file",
    ]  # fmt: skip
    assert [str(k) for k in ErrorKind] == [
        "dns", "refused", "timeout", "handshake", "protocol", "reset", "unreachable", "file",
        "stale", "missing",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("192.0.2.1", True),
        ("2001:db8::1", True),
        ("[2001:db8::1]", True),
        ("www.example.com", False),
        ("192.0.2.256", False),
        ("", False),
        ("X192.0.2.1", False),  # only brackets are taken off, nothing else around an address
    ],
)
def test_an_ip_literal_is_an_address_bracketed_or_not(text: str, literal: bool) -> None:
    assert is_ip_literal(text) is literal


@pytest.mark.parametrize(
    ("where", "label"),
    [
        (endpoint("www.example.com", "192.0.2.1"), "www.example.com:443@192.0.2.1"),
        (endpoint("www.example.com", "2001:db8::1", 8443), "www.example.com:8443@[2001:db8::1]"),
        (endpoint("gone.example.com", ""), "gone.example.com:443"),
        (
            Endpoint(host="/etc/ssl/a.pem", port=0, address="#1", sni=None, protocol=Protocol.FILE),
            "file:/etc/ssl/a.pem#1",
        ),
    ],
)
def test_an_endpoint_label_is_specs(where: Endpoint, label: str) -> None:
    assert where.label == label


def test_an_endpoints_source_is_not_part_of_its_identity() -> None:
    listed = endpoint("www.example.com", "192.0.2.1")
    assert replace(listed, source="zone:db.example.com") == listed
    assert listed.protocol is Protocol.TLS and listed.source is None


def test_an_observation_is_ok_only_with_a_certificate() -> None:
    seen = served("www.example.com", "192.0.2.1", WWW, EXPIRY)
    assert seen.ok is True
    assert replace(seen, certificate=None).ok is False
    assert replace(seen, status="error").ok is False


def test_paging_follows_the_validated_path_where_known() -> None:
    seen = served("www.example.com", "192.0.2.1", WWW, EXPIRY)
    assert seen.paging_not_after == EXPIRY
    assert replace(seen, validated_path_not_after=LATER).paging_not_after == LATER


def with_old_intermediate(validated: datetime | None, *, stray: bool = False) -> Observation:
    seen = served("www.example.com", "192.0.2.1", WWW, LATER)
    leaf = facts(WWW, LATER)
    decoy = facts(("Decoy CA",), EXPIRY + timedelta(days=1))
    old = facts(("Old CA",), EXPIRY)
    return replace(
        seen,
        chain=(leaf, decoy, old),
        effective_not_after=EXPIRY,
        validated_path_not_after=validated,
        strays=(old,) if stray else (),
    )


def test_the_off_path_certificate_setting_the_expiry_is_found() -> None:
    old = facts(("Old CA",), EXPIRY)
    assert with_old_intermediate(LATER).off_path_expiry == old
    # none when the validated path expires first or as early, or is unknown, or it is a stray
    assert with_old_intermediate(EXPIRY).off_path_expiry is None
    assert with_old_intermediate(None).off_path_expiry is None
    assert with_old_intermediate(LATER, stray=True).off_path_expiry is None
    unknown = replace(with_old_intermediate(LATER), effective_not_after=None)
    assert unknown.off_path_expiry is None


def test_the_certificate_right_after_the_leaf_can_set_the_expiry() -> None:
    old = facts(("Old CA",), EXPIRY)
    seen = replace(with_old_intermediate(LATER), chain=(facts(WWW, LATER), old))
    assert seen.off_path_expiry == old


def test_the_leaf_itself_is_never_the_off_path_certificate() -> None:
    seen = served("www.example.com", "192.0.2.1", WWW, EXPIRY)
    early_leaf = replace(seen, effective_not_after=EXPIRY, validated_path_not_after=LATER)
    assert early_leaf.off_path_expiry is None


def tracked(*observations: Observation) -> TrackedCert:
    return TrackedCert(
        id="0123456789abcdef",
        names=WWW,
        effective_not_after=EXPIRY,
        fingerprints=(),
        endpoints=(endpoint("www.example.com", "192.0.2.1"), endpoint("www.example.com", "")),
        observations=observations,
    )


def test_a_tracked_certificates_labels_and_strays_once_each_earliest_first() -> None:
    early = facts(("a CA",), EXPIRY - timedelta(days=1))
    late = facts(("b CA",), EXPIRY + timedelta(days=1))
    same_time = [facts((name,), EXPIRY) for name in ("c CA", "d CA")]
    seen = served("www.example.com", "192.0.2.1", WWW, EXPIRY)
    cert = tracked(
        replace(seen, strays=(late, same_time[0], early)),
        replace(seen, strays=(early, same_time[1])),
    )
    tied = sorted(same_time, key=lambda s: s.fingerprint_sha256)
    assert cert.strays == (early, *tied, late)
    assert cert.endpoint_labels == ("www.example.com:443@192.0.2.1", "www.example.com:443")


def test_a_certificate_pages_on_its_earliest_validated_path_never_before_its_expiry() -> None:
    seen = served("www.example.com", "192.0.2.1", WWW, EXPIRY)
    assert tracked().validated_path_not_after == EXPIRY
    two = tracked(
        replace(seen, validated_path_not_after=LATER + timedelta(days=5)),
        replace(seen, validated_path_not_after=LATER),
    )
    assert two.validated_path_not_after == LATER
    before = tracked(replace(seen, effective_not_after=None, validated_path_not_after=NOW))
    assert before.validated_path_not_after == EXPIRY
    unknown = tracked(replace(seen, effective_not_after=None))
    assert unknown.validated_path_not_after == EXPIRY


def test_a_tickets_markers_are_tb_labels_of_sixteen_hex_digits() -> None:
    labels = (
        MARKER_LABEL,
        marker_label("0123456789abcdef"),
        "tb-0123456789ABCDEF",
        "tb-0123456789abcdef0",
        "tb-release",
        "xtb-fedcba9876543210",
        "tb-fedcba9876543210",
    )
    assert ticket("OPS-1", labels=labels).marker_ids == ("0123456789abcdef", "fedcba9876543210")
    assert (MARKER_LABEL, MARKER_PREFIX) == ("ticketbridge", "tb-")
    assert marker_label("abc") == "tb-abc"


def test_a_ticket_is_open_until_done_and_in_progress_while_indeterminate() -> None:
    todo = ticket("OPS-1")
    states = {
        category: (t.is_open, t.in_progress)
        for category in ("new", "indeterminate", "done")
        for t in [replace(todo, status_category=category)]
    }
    assert states == {
        "new": (True, False),
        "indeterminate": (True, True),
        "done": (False, False),
    }
