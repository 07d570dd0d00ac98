"""The pure x509 layer on odd certificates: facts, effective expiry, names, ids, host matching."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from support.certs import (
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    HOSTILE_COMMON_NAMES,
    Issued,
    cached_key,
    der_with_duplicate_extension,
    der_with_serial,
    make_ca,
    make_intermediate,
    make_leaf,
    many_names,
    name_with,
)
from ticketbridge.core.model import CertFacts
from ticketbridge.core.x509facts import (
    CertificateParseError,
    canonical_names,
    effective_not_after,
    facts_from_der,
    hostname_matches,
    tracked_id,
)


def facts_of(issued: Issued) -> CertFacts:
    return facts_from_der(issued.der)


def bare_facts(names: tuple[str, ...] = (), **changes: object) -> CertFacts:
    """Facts without a certificate behind them, for the rules that only read fields."""
    facts = CertFacts(
        fingerprint_sha256="ab" * 32,
        serial="1",
        subject="CN=test",
        issuer="CN=test",
        names=names,
        not_before=DEFAULT_NOT_BEFORE,
        not_after=DEFAULT_NOT_AFTER,
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


# --- facts of odd certificates ------------------------------------------------------------------

IDN_NAMES = ["xn--bcher-kva.example", "*.xn--mnchen-3ya.example"]

FACTS_CASES: list[tuple[str, Callable[[], Issued], dict[str, object]]] = [
    (
        "SANs and no CN",
        lambda: make_leaf(names=["B.example.com", "a.example.com"], common_name=None),
        {
            "common_name": None,
            "names": ("B.example.com", "a.example.com"),
            "canonical": ("a.example.com", "b.example.com"),
        },
    ),
    (
        "CN and no SAN falls back to the CN",
        lambda: make_leaf(names=[], common_name="Legacy.Example.COM"),
        {"names": (), "common_name": "Legacy.Example.COM", "canonical": ("legacy.example.com",)},
    ),
    (
        "IDN SANs are reported as served (A-labels)",
        lambda: make_leaf(names=IDN_NAMES),
        {"names": tuple(IDN_NAMES), "canonical": tuple(sorted(IDN_NAMES))},
    ),
    (
        "100 SANs",
        lambda: make_leaf(names=many_names(100)),
        {"name_count": 100},
    ),
    (
        "5,000 SANs",
        lambda: make_leaf(names=many_names(5000)),
        {"name_count": 5000},
    ),
    (
        "critical SAN extension",
        lambda: make_leaf(names=["crit.example.com"], san_critical=True),
        {"names": ("crit.example.com",)},
    ),
    (
        "IP SANs are kept apart from DNS names",
        lambda: make_leaf(names=["ip.example.com"], ip_addresses=["192.0.2.7", "2001:db8::1"]),
        {"names": ("ip.example.com",), "ip_addresses": ("192.0.2.7", "2001:db8::1")},
    ),
    (
        "self-signed leaf",
        lambda: make_leaf(names=["self.example.com"]),
        {"self_signed": True, "is_ca": False, "key_type": "EC-secp256r1"},
    ),
    (
        "root CA",
        lambda: make_ca("Facts Root"),
        {"self_signed": True, "is_ca": True, "subject": "CN=Facts Root"},
    ),
    (
        "intermediate CA",
        lambda: make_intermediate(make_ca("Facts Root"), "Facts Intermediate"),
        {"self_signed": False, "is_ca": True, "issuer": "CN=Facts Root"},
    ),
    (
        "RSA leaf",
        lambda: make_leaf(make_ca(), names=["rsa.example.com"], key_kind="rsa"),
        {"key_type": "RSA-2048", "signature_algorithm": "ecdsa-with-SHA256"},
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"),
    [pytest.param(build, expected, id=case_id) for case_id, build, expected in FACTS_CASES],
)
def test_facts_of_odd_certificates(
    build: Callable[[], Issued], expected: dict[str, object]
) -> None:
    issued = build()
    facts = facts_of(issued)

    assert facts.fingerprint_sha256 == hashlib.sha256(issued.der).hexdigest()
    assert facts.not_after == issued.certificate.not_valid_after_utc
    for field, value in expected.items():
        if field == "canonical":
            assert canonical_names(facts) == value
        elif field == "name_count":
            assert len(facts.names) == value
            assert len(canonical_names(facts)) == value
        else:
            assert getattr(facts, field) == value, field


def test_no_cn_and_no_san_falls_back_to_the_fingerprint() -> None:
    facts = facts_of(make_leaf(names=[], common_name=None))

    assert facts.names == ()
    assert facts.common_name is None
    assert canonical_names(facts) == (f"sha256:{facts.fingerprint_sha256}",)


@pytest.mark.parametrize("common_name", HOSTILE_COMMON_NAMES)
def test_malicious_subject_is_kept_verbatim(common_name: str) -> None:
    subject = name_with(common_name, [(NameOID.ORGANIZATION_NAME, common_name)])
    issued = make_leaf(subject=subject, names=["hostile.example.com"])

    facts = facts_of(issued)

    assert facts.common_name == common_name
    assert facts.subject == issued.certificate.subject.rfc4514_string()
    assert facts.issuer == facts.subject


@pytest.mark.parametrize("serial", [-0x1234, -1, 0])
def test_non_positive_serial_is_a_fact_not_a_failure(serial: int) -> None:
    issued = make_leaf(names=["neg.example.com"])
    der = der_with_serial(issued.certificate, issued.key, serial)

    facts = facts_from_der(der)

    assert facts.serial == ("-" if serial < 0 else "") + format(abs(serial), "x")
    assert facts.names == ("neg.example.com",)


def test_large_serial_is_lower_case_hex() -> None:
    issued = make_leaf(names=["big.example.com"], serial=0xDEADBEEF_CAFEF00D_12345678)

    assert facts_of(issued).serial == "deadbeefcafef00d12345678"


def test_duplicate_extension_is_reported_as_a_parse_error_or_read_around() -> None:
    issued = make_leaf(names=["dup.example.com"])
    der = der_with_duplicate_extension(issued.certificate, issued.key)

    try:
        facts = facts_from_der(der)
    except CertificateParseError:
        return
    assert facts.fingerprint_sha256 == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x30", b"not a certificate", b"\x30\x82\xff\xff" + b"\x00" * 64, bytes(range(256))],
    ids=["empty", "truncated", "text", "overlong-length", "bytes"],
)
def test_garbage_raises_certificate_parse_error(garbage: bytes) -> None:
    with pytest.raises(CertificateParseError):
        facts_from_der(garbage)


# --- effective expiry ---------------------------------------------------------------------------

T0 = datetime(2027, 1, 1, tzinfo=UTC)


def _chain_facts(
    leaf_days: int, intermediate_days: int | None, root_days: int | None
) -> list[CertFacts]:
    root = make_ca("Expiry Root", not_after=T0 + timedelta(days=root_days or 3650))
    parent = root
    chain: list[Issued] = []
    if intermediate_days is not None:
        parent = make_intermediate(
            root, "Expiry Intermediate", not_after=T0 + timedelta(days=intermediate_days)
        )
    leaf = make_leaf(parent, names=["exp.example.com"], not_after=T0 + timedelta(days=leaf_days))
    chain.append(leaf)
    if intermediate_days is not None:
        chain.append(parent)
    if root_days is not None:
        chain.append(root)
    return [facts_of(item) for item in chain]


@pytest.mark.parametrize(
    ("leaf_days", "intermediate_days", "root_days", "expected_days"),
    [
        pytest.param(90, None, None, 90, id="leaf alone"),
        pytest.param(90, 400, None, 90, id="leaf expires first"),
        pytest.param(90, 30, None, 30, id="intermediate expiring before the leaf wins"),
        pytest.param(90, 400, 10, 90, id="served self-signed root is ignored"),
        pytest.param(90, 30, 10, 30, id="root ignored, intermediate still counts"),
    ],
)
def test_effective_not_after(
    leaf_days: int, intermediate_days: int | None, root_days: int | None, expected_days: int
) -> None:
    chain = _chain_facts(leaf_days, intermediate_days, root_days)

    assert effective_not_after(chain) == T0 + timedelta(days=expected_days)


def test_self_signed_leaf_counts() -> None:
    leaf = facts_of(make_leaf(names=["self.example.com"], not_after=T0))
    later_intermediate = facts_of(make_intermediate(make_ca(), not_after=T0 + timedelta(days=100)))

    assert effective_not_after([leaf]) == T0
    assert effective_not_after([leaf, later_intermediate]) == T0


def test_effective_not_after_of_nothing_is_none() -> None:
    assert effective_not_after([]) is None


# --- canonical names and ids --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "common_name", "expected"),
    [
        pytest.param(("B.example.com", "a.example.com"), None, ("a.example.com", "b.example.com")),
        pytest.param(("x.example.com", "X.EXAMPLE.com", "x.example.com"), None, ("x.example.com",)),
        pytest.param(
            ("z.example", "*.example", "a.example"), None, ("*.example", "a.example", "z.example")
        ),
        pytest.param((" pad.example ", ""), None, ("pad.example",), id="whitespace and empty"),
        pytest.param(("san.example",), "cn.example", ("san.example",), id="SAN beats CN"),
        pytest.param((), "CN.Example", ("cn.example",), id="CN fallback"),
    ],
)
def test_canonical_names(
    names: tuple[str, ...], common_name: str | None, expected: tuple[str, ...]
) -> None:
    assert canonical_names(bare_facts(names, common_name=common_name)) == expected


@pytest.mark.parametrize(
    "names",
    [("*.example.com", "example.com"), ("Only.Example",), tuple(many_names(50))],
)
def test_tracked_id_is_sha256_of_sorted_lowercase_names(names: tuple[str, ...]) -> None:
    expected_input = "\n".join(sorted(name.lower() for name in names))
    expected = hashlib.sha256(expected_input.encode()).hexdigest()[:16]

    assert tracked_id(canonical_names(bare_facts(names))) == expected


def test_tracked_id_is_stable_across_renewal() -> None:
    ca = make_ca()
    old = facts_of(make_leaf(ca, names=["b.example", "a.example"], not_after=T0))
    new = facts_of(
        make_leaf(ca, names=["A.example", "b.example"], not_after=T0 + timedelta(days=90))
    )

    assert old.fingerprint_sha256 != new.fingerprint_sha256
    assert tracked_id(canonical_names(old)) == tracked_id(canonical_names(new))


dns_label = st.from_regex(r"[A-Za-z0-9*][A-Za-z0-9-]{0,10}", fullmatch=True)
dns_name = st.lists(dns_label, min_size=1, max_size=4).map(".".join)


@given(names=st.lists(dns_name, max_size=12), data=st.data())
def test_canonical_names_is_idempotent_and_order_independent(
    names: list[str], data: st.DataObject
) -> None:
    facts = bare_facts(tuple(names), common_name="fallback.example")
    canonical = canonical_names(facts)
    shuffled = data.draw(st.permutations(names))

    assert canonical_names(bare_facts(canonical)) == canonical
    assert canonical_names(bare_facts(tuple(shuffled), common_name="fallback.example")) == canonical
    assert list(canonical) == sorted(set(canonical))
    assert all(name == name.lower() for name in canonical)


# --- hostname matching --------------------------------------------------------------------------

HOST_CASES = [
    ("www.example.com", ("www.example.com",), True, "exact"),
    ("WWW.Example.COM", ("www.example.com",), True, "host case"),
    ("www.example.com", ("WWW.EXAMPLE.COM",), True, "SAN case"),
    ("www.example.com.", ("www.example.com",), True, "trailing dot on host"),
    ("www.example.com", ("www.example.com.",), True, "trailing dot on SAN"),
    ("app.example.com", ("*.example.com",), True, "wildcard one label"),
    ("a.b.example.com", ("*.example.com",), False, "wildcard is not two labels"),
    ("example.com", ("*.example.com",), False, "wildcard is not the bare domain"),
    (".example.com", ("*.example.com",), False, "wildcard is not an empty label"),
    ("foo.example.com", ("f*.example.com",), False, "no partial-label wildcard"),
    ("foo.example.com", ("*o.example.com",), False, "no suffix wildcard"),
    ("foo.example.com", ("foo.*.com",), False, "wildcard only left-most"),
    ("example.com", ("*.com",), False, "no wildcard over a public suffix label"),
    ("other.example.org", ("www.example.com",), False, "different name"),
    ("bücher.example", ("xn--bcher-kva.example",), True, "IDN host against A-label SAN"),
    ("192.0.2.7", ("192.0.2.7",), False, "IP literal never matches a DNS SAN"),
]


@pytest.mark.parametrize(
    ("host", "san_names", "matches"),
    [
        pytest.param(host, names, matches, id=case_id)
        for host, names, matches, case_id in HOST_CASES
    ],
)
def test_hostname_matches_dns(host: str, san_names: tuple[str, ...], matches: bool) -> None:
    assert hostname_matches(host, bare_facts(san_names)) is matches


def test_hostname_never_matches_the_common_name() -> None:
    facts = facts_of(make_leaf(names=[], common_name="cn-only.example.com"))

    assert hostname_matches("cn-only.example.com", facts) is False


@pytest.mark.parametrize(
    ("host", "matches"),
    [
        ("192.0.2.7", True),
        ("192.0.2.8", False),
        ("2001:db8::1", True),
        ("[2001:db8::1]", True),
        ("2001:0db8:0:0::1", True),
        ("ip.example.com", True),
    ],
)
def test_hostname_matches_ip_literals_against_ip_sans(host: str, matches: bool) -> None:
    facts = facts_of(make_leaf(names=["ip.example.com"], ip_addresses=["192.0.2.7", "2001:db8::1"]))

    assert hostname_matches(host, facts) is matches


def test_hostile_ip_network_san_does_not_break_matching() -> None:
    # An 8-byte iPAddress (a network, legal only in name constraints) can still be served in a SAN.
    network = x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))
    key = cached_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name_with("net"))
        .issuer_name(name_with("net"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(DEFAULT_NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([network]), critical=False)
        .sign(key, hashes.SHA256())
    )
    facts = facts_of(Issued(certificate, key))

    assert hostname_matches("10.0.0.1", facts) is False
