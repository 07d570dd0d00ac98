"""The shapes issue 15 found the verdict wrong on, each judged by OpenSSL too, with the reason
an operator reads: name constraints (leading dot, CN, directoryName), issuer lookup (canonical
names, AKI issuer and serial, same-name issuers), nsCertType, pinned leaves, RSA's edge at
auth level 2, partial wildcards, CN-only certificates and BIT STRING common names."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from oracle.chains import (
    BuiltChain,
    CertSpec,
    ChainSpec,
    build,
    make_certificate,
    private_key,
    subject_name,
)
from oracle.der import bit_string_common_name
from oracle.openssl import openssl_verdict
from ticketbridge.discovery.verify import TrustVerifier

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
LEAF = CertSpec(basic_constraints="not-ca", key_usage="tls", eku="server")
ONE_CA = ChainSpec(root=CertSpec(), intermediates=(CertSpec(),), leaf=LEAF)


def _judge(chain: BuiltChain) -> tuple[str | None, str | None, bool]:
    """Our failure class (None: trusted) and error text, after checking them against OpenSSL."""
    served = [c.public_bytes(Encoding.DER) for c in chain.served]
    verifier = TrustVerifier(chain.anchors)
    failure = verifier.trust_failure(served, NOW)
    verdict = verifier.verdict(served, chain.host, NOW)
    theirs = openssl_verdict(chain)
    ours = None if failure is None else str(failure.kind)
    assert ours == theirs.first_class, (failure, theirs.errors)
    return ours, verdict.error, verdict.hostname_match


def _nc(where: str, constraint: str, san: str = "exact", **chain: object) -> ChainSpec:
    ca = CertSpec(name_constraints=constraint)
    if where == "root":
        return replace(ONE_CA, root=ca, san=san, **chain)  # type: ignore[arg-type]
    return replace(ONE_CA, intermediates=(ca,), san=san, **chain)  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["root", "intermediate"])
@pytest.mark.parametrize(
    ("constraint", "san", "org", "expected", "words"),
    [
        # A leading dot means subdomains only: zone.test itself is outside .zone.test.
        ("dns-permit-dot", "apex", False, "name-constraints", "zone.test (outside the names"),
        ("dns-permit-dot", "exact", False, None, None),
        ("dns-permit", "apex", False, None, None),
        ("dns-exclude-dot", "apex", False, "name-constraints", "app.zone.test (a name it excludes"),
        # Without DNS SANs a host-like CN is checked against DNS constraints.
        ("dns-permit-other", "cn-only", False, "name-constraints", "its subject CN"),
        ("dns-permit-other", "ip", False, None, None),
        # IP: an IPv6 address is outside an IPv4-only permit.
        ("ip-permit", "ip-both", False, "name-constraints", "::1"),
        ("ip-permit", "ip", False, None, None),
        # directoryName constraints apply to subjects (of intermediates too).
        ("dir-permit", "exact", True, None, None),
        ("dir-permit-other", "exact", True, "name-constraints", "subject"),
        ("dir-exclude", "exact", True, "name-constraints", "subject"),
    ],
)
def test_name_constraints_as_openssl_applies_them(
    where: str, constraint: str, san: str, org: bool, expected: str | None, words: str | None
) -> None:
    chain = build(replace(_nc(where, constraint, san), names_org=org, tag=150), NOW)
    kind, error, _ = _judge(chain)
    assert kind == expected, error
    if words:
        assert error is not None and words in error


@pytest.mark.parametrize("spelling", ["case", "spacing", "type"])
def test_an_issuer_name_spelt_differently_is_found_as_openssl_finds_it(spelling: str) -> None:
    chain = build(replace(ONE_CA, issuer_spelling=spelling, tag=151), NOW)
    assert _judge(chain)[0] is None


@pytest.mark.parametrize(
    ("decoy", "leaf_aki", "expected"),
    [
        # Another key of the same type, no AKI to tell them apart: OpenSSL takes the first
        # valid one and its signature fails; the reason names the certificate it tried.
        ("other-key", False, "signature"),
        ("other-key", True, None),  # the AKI key id skips the decoy
        ("other-key-type", False, None),  # check_sig_alg_match() skips a key of another type
        ("expired-twin", True, None),  # a valid issuer is preferred to an expired one
    ],
)
def test_same_name_issuers_are_chosen_as_openssl_chooses(
    decoy: str, leaf_aki: bool, expected: str | None
) -> None:
    spec = replace(ONE_CA, leaf=replace(LEAF, aki=leaf_aki), decoy=decoy, tag=152)
    kind, error, _ = _judge(build(spec, NOW))
    assert kind == expected, error
    if expected == "signature":
        assert error == (
            "certificate has an invalid signature: it does not verify with the key of "
            "CA certificate CN=oracle 152 intermediate 1"
        )


@pytest.mark.parametrize(
    ("form", "expected"),
    [("keyid-issuer-serial", None), ("issuer-serial", None), ("wrong-serial", "unknown-issuer")],
)
def test_an_aki_naming_issuer_and_serial_must_match_them(form: str, expected: str | None) -> None:
    spec = replace(ONE_CA, leaf=replace(LEAF, aki_form=form), tag=153)
    kind, error, _ = _judge(build(spec, NOW))
    assert kind == expected, error
    if expected:
        assert error == (
            "issuer CN=oracle 153 intermediate 1 is served, but not as the issuer of certificate: "
            "the certificate's authority key identifier names another issuer serial or name "
            "(a re-keyed or wrong CA certificate)"
        )


@pytest.mark.parametrize(
    ("leaf_type", "eku", "expected"),
    [("server", "absent", None), ("client", "absent", "purpose"), ("client", "server", "purpose")],
)
def test_ns_cert_type_is_obeyed_as_openssl_does(
    leaf_type: str, eku: str, expected: str | None
) -> None:
    spec = replace(ONE_CA, leaf=replace(LEAF, ns_cert_type=leaf_type, eku=eku), tag=154)
    kind, error, _ = _judge(build(spec, NOW))
    assert kind == expected, error
    if expected:
        assert error == "certificate is not allowed for TLS servers (nsCertType lacks sslServer)"


@pytest.mark.parametrize("anchors", ["leaf-only", "leaf-too"])
def test_a_pinned_ca_issued_leaf_needs_its_path_to_a_root_as_in_openssl(anchors: str) -> None:
    """OpenSSL stops at a trusted non-self-signed certificate only with -partial_chain, which
    its clients do not set; we follow it."""
    spec = replace(ONE_CA, extra_anchor=anchors, root_trusted=False, tag=155)
    kind, error, _ = _judge(build(spec, NOW))
    assert kind == "unknown-issuer", error


@pytest.mark.parametrize(("size", "expected"), [(1962, "weak-key"), (1963, None)])
def test_rsa_is_judged_by_openssls_security_bits_not_a_round_number(
    size: int, expected: str | None
) -> None:
    chain = build(replace(ONE_CA, tag=156), NOW)
    key = rsa.generate_private_key(public_exponent=65537, key_size=size)
    ca, ca_key = chain.served[1], private_key("p256", 1)
    leaf = make_certificate(
        LEAF, subject_name("rsa edge"), key, ca.subject, ca_key, now=NOW,
        names=[x509.DNSName(chain.host)],
    )  # fmt: skip
    kind, error, _ = _judge(replace(chain, served=(leaf, ca)))
    assert kind == expected, error
    if expected:
        assert error == (
            f"certificate key is too weak: RSA-{size} gives 104-bit security, "
            "clients require 112-bit security"
        )


def test_a_cn_only_certificate_says_its_cn_is_ignored_and_why() -> None:
    kind, error, matched = _judge(build(replace(ONE_CA, san="cn-only", tag=157), NOW))
    assert (kind, matched) == (None, False)
    assert error == (
        "hostname mismatch: certificate does not cover app.zone.test: it has no "
        "subjectAltName, and its CN app.zone.test is ignored (RFC 6125; browsers and "
        "Python's ssl no longer match the CN)"
    )


def test_a_partial_wildcard_says_why_it_matches_nothing() -> None:
    kind, error, matched = _judge(build(replace(ONE_CA, san="partial-wildcard", tag=158), NOW))
    assert (kind, matched) == (None, False)
    assert error is not None and "partial wildcards such as a*.zone.test" in error


def test_a_bit_string_common_name_is_a_verdict_not_a_handshake_error() -> None:
    chain = build(replace(ONE_CA, tag=159), NOW)
    ca = chain.served[1]
    leaf = make_certificate(
        LEAF, subject_name("placeholder"), private_key("p256", 7), ca.subject,
        private_key("p256", 1), now=NOW, names=[x509.DNSName(chain.host)],
        subject_der=bit_string_common_name(chain.host.encode()),
    )  # fmt: skip
    kind, error, matched = _judge(replace(chain, served=(leaf, ca)))
    assert (kind, error, matched) == (None, None, True)


@pytest.mark.parametrize(
    "spec",
    [
        replace(ONE_CA, extra_anchor="intermediate-only", serve_root=True, tag=160),
        # Found by the generator: the intermediate is trusted, its issuer is served only
        # through a cross-sign to a trusted old root; OpenSSL does not leave the trust store.
        replace(
            ONE_CA,
            intermediates=(CertSpec(key="rsa-1024"),),
            cross="old-root-trusted",
            extra_anchor="intermediate-too",
            serve_root=True,
            tag=160,
        ),
    ],
)
def test_a_path_that_reaches_the_trust_store_does_not_go_back_to_served_certificates(
    spec: ChainSpec,
) -> None:
    kind, error, _ = _judge(build(spec, NOW))
    assert kind == "unknown-issuer", error
    assert error == (
        "CA certificate CN=oracle 160 intermediate 1 is trusted, but its issuer CN=oracle 160 "
        "root is not: clients need the trusted path to end at a self-signed root in the trust "
        "store (OpenSSL without -partial_chain)"
    )
