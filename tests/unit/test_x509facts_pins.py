"""Certificate facts checked against OpenSSL as the oracle, and the rules that read them.

`openssl x509 -text` (OpenSSL 3, the Debian package the suite already needs) is an independent
parser of the same DER: fingerprint, serial, validity dates and key type must agree with it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from support.certs import DEFAULT_NOT_AFTER, DEFAULT_NOT_BEFORE, make_ca, make_leaf, name_with
from ticketbridge.core.model import CertFacts
from ticketbridge.core.x509facts import (
    UNREADABLE_NAME,
    canonical_names,
    effective_not_after,
    facts_from_certificate,
    facts_from_der,
    hostname_matches,
)

OPENSSL = shutil.which("openssl")
NOT_BEFORE = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

KEYS: dict[str, Callable[[], Any]] = {
    "RSA-2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "EC-secp256r1": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EC-secp384r1": lambda: ec.generate_private_key(ec.SECP384R1()),
    "Ed25519": ed25519.Ed25519PrivateKey.generate,
    "Ed448": ed448.Ed448PrivateKey.generate,
    "DSA-2048": lambda: dsa.generate_private_key(key_size=2048),
}
# How `openssl x509 -text` names each key (OpenSSL 3.0 crypto/x509/t_x509.c and the key printers).
OPENSSL_KEY = {
    "RSA-2048": ("rsaEncryption", "Public-Key: (2048 bit)"),
    "EC-secp256r1": ("id-ecPublicKey", "NIST CURVE: P-256"),
    "EC-secp384r1": ("id-ecPublicKey", "NIST CURVE: P-384"),
    "Ed25519": ("ED25519", "ED25519 Public-Key:"),
    "Ed448": ("ED448", "ED448 Public-Key:"),
    "DSA-2048": ("dsaEncryption", "Public-Key: (2048 bit)"),
}


@cache
def key_for(key_name: str) -> Any:
    """One key per kind per process: RSA and DSA generation would dominate the run."""
    return KEYS[key_name]()


def self_signed(key_name: str, *, ca: bool | None = None, serial: int = 0x1F2E3D) -> bytes:
    key = key_for(key_name)
    algorithm = None if key_name in ("Ed25519", "Ed448") else hashes.SHA256()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name_with("pins.example.com"))
        .issuer_name(name_with("pins.example.com"))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_AFTER)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    return builder.sign(key, algorithm).public_bytes(Encoding.DER)


def openssl(der: bytes) -> str:
    assert OPENSSL is not None
    return subprocess.run(
        [
            OPENSSL,
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-text",
            "-serial",
            "-fingerprint",
            "-sha256",
            "-startdate",
            "-enddate",
            "-dateopt",
            "iso_8601",
        ],
        input=der,
        capture_output=True,
        check=True,
    ).stdout.decode()


def oracle_date(text: str, field: str) -> datetime:
    match = re.search(rf"^{field}=(\S+ \S+)Z$", text, re.MULTILINE)
    assert match, text
    return datetime.fromisoformat(match[1]).replace(tzinfo=UTC)


@pytest.mark.skipif(OPENSSL is None, reason="openssl is installed by scripts/install.sh --test")
@pytest.mark.parametrize("key_name", sorted(KEYS))
def test_facts_agree_with_openssl(key_name: str) -> None:
    der = self_signed(key_name)
    facts, text = facts_from_der(der), openssl(der)

    algorithm, detail = OPENSSL_KEY[key_name]
    assert f"Public Key Algorithm: {algorithm}" in text
    assert detail in text
    assert facts.key_type == key_name
    fingerprint = re.search(r"sha256 Fingerprint=(\S+)", text)
    assert fingerprint and facts.fingerprint_sha256 == fingerprint[1].replace(":", "").lower()
    serial = re.search(r"^serial=(\S+)$", text, re.MULTILINE)
    assert serial and facts.serial == serial[1].lower().lstrip("0")
    assert facts.not_before == oracle_date(text, "notBefore") == NOT_BEFORE
    assert facts.not_after == oracle_date(text, "notAfter") == DEFAULT_NOT_AFTER
    signature = re.search(r"Signature Algorithm: (\S+)", text)
    # OpenSSL prints its long names (dsa_with_SHA256), cryptography its own (dsa-with-sha256).
    assert signature
    assert facts.signature_algorithm.lower().replace("-", "_") == signature[1].lower().replace(
        "-", "_"
    )


@pytest.mark.parametrize(
    ("ca", "is_ca"),
    [(True, True), (False, False), (None, False)],  # no BasicConstraints at all: not a CA
)
def test_is_ca_reads_basic_constraints(ca: bool | None, is_ca: bool) -> None:
    facts = facts_from_der(self_signed("EC-secp256r1", ca=ca))
    assert (facts.is_ca, facts.self_signed) == (is_ca, True)


def test_same_name_but_another_key_is_not_self_signed() -> None:
    signer, subject_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name_with("twin"))
        .issuer_name(name_with("twin"))
        .public_key(subject_key.public_key())
        .serial_number(7)
        .not_valid_before(DEFAULT_NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_AFTER)
        .sign(signer, hashes.SHA256())
    )
    assert facts_from_der(certificate.public_bytes(Encoding.DER)).self_signed is False


# -- effective expiry: which served certificates count (SPEC "Effective expiry") --------------

LEAF_EXPIRY = DEFAULT_NOT_AFTER
EARLIER = DEFAULT_NOT_AFTER - timedelta(days=30)


def cert(*, self_signed: bool, is_ca: bool, not_after: datetime) -> CertFacts:
    return CertFacts(
        fingerprint_sha256="cd" * 32,
        serial="2",
        subject="CN=x",
        issuer="CN=x" if self_signed else "CN=y",
        names=(),
        not_before=DEFAULT_NOT_BEFORE,
        not_after=not_after,
        is_ca=is_ca,
        self_signed=self_signed,
    )


@pytest.mark.parametrize(
    ("self_signed", "is_ca", "counts"),
    [
        (True, True, False),  # a served root: clients use their own copy
        (False, True, True),  # an intermediate
        (True, False, True),  # a self-signed end-entity certificate is no root
        (False, False, True),  # a stray leaf served in the chain
    ],
)
def test_which_served_certificates_count(self_signed: bool, is_ca: bool, counts: bool) -> None:
    leaf = cert(self_signed=False, is_ca=False, not_after=LEAF_EXPIRY)
    extra = cert(self_signed=self_signed, is_ca=is_ca, not_after=EARLIER)
    assert effective_not_after([leaf, extra]) == (EARLIER if counts else LEAF_EXPIRY)


def test_a_served_self_signed_ca_as_the_leaf_counts() -> None:
    root_as_leaf = cert(self_signed=True, is_ca=True, not_after=EARLIER)
    later = cert(self_signed=False, is_ca=True, not_after=LEAF_EXPIRY)
    assert effective_not_after([root_as_leaf, later]) == EARLIER


# -- names and host matching ------------------------------------------------------------------


def test_blank_sans_fall_back_to_the_trimmed_common_name() -> None:
    facts = replace(cert(self_signed=True, is_ca=False, not_after=EARLIER), names=(" ", ""))
    assert canonical_names(replace(facts, common_name=" Intranet ")) == ("intranet",)


@pytest.mark.parametrize(
    ("host", "san", "matches"),
    [
        # A 64-character label is no IDNA name (RFC 5890: at most 63): compared as written.
        ("a" * 64 + ".example.com", "A" * 64 + ".example.com", True),
        ("a" * 64 + ".example.com", "*.example.com", True),
        ("b" * 64 + ".example.com", "a" * 64 + ".example.com", False),
        ("*.example.com", "*.example.com", True),  # literally the same name
        ("x.y", "*.y", False),  # a wildcard needs three labels (RFC 6125 6.4.3)
        ("x.y.z", "*.y.z", True),
    ],
)
def test_host_matching_edges(host: str, san: str, matches: bool) -> None:
    facts = replace(cert(self_signed=True, is_ca=False, not_after=EARLIER), names=(san,))
    assert hostname_matches(host, facts) is matches


def test_a_second_san_with_a_different_label_count_is_still_tried() -> None:
    facts = replace(
        cert(self_signed=True, is_ca=False, not_after=EARLIER),
        names=("example.com", "www.example.com"),
    )
    assert hostname_matches("www.example.com", facts) is True


def test_an_upper_case_san_ending_in_x_matches() -> None:
    facts = replace(
        cert(self_signed=True, is_ca=False, not_after=EARLIER), names=("APP.EXAMPLE.BOX",)
    )
    assert hostname_matches("app.example.box", facts) is True


# -- facts of certificates `cryptography` can only partly read --------------------------------

EC_PUBLIC_KEY_OID = bytes.fromhex("06072a8648ce3d0201")  # id-ecPublicKey, RFC 5480 2.1.1
ECDSA_SHA256_OID = bytes.fromhex("06082a8648ce3d040302")  # ecdsa-with-SHA256, RFC 5758 3.2


def patched(old: bytes, new: bytes) -> bytes:
    der = self_signed("EC-secp256r1")
    assert old in der
    return der.replace(old, new)


def test_an_unknown_key_algorithm_is_a_fact_not_a_crash() -> None:
    der = patched(EC_PUBLIC_KEY_OID, EC_PUBLIC_KEY_OID[:-1] + b"\x09")
    assert facts_from_der(der).key_type == "unknown"


def test_a_malformed_ec_point_is_an_unknown_key() -> None:
    key = key_for("EC-secp256r1").public_key()
    point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    der = patched(point, b"\x04" + bytes(len(point) - 1))  # (0, 0) is on no curve
    assert facts_from_der(der).key_type == "unknown"


def test_a_key_type_without_a_short_name_is_named_by_its_class() -> None:
    signer = key_for("EC-secp256r1")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name_with("x25519"))
        .issuer_name(name_with("x25519"))
        .public_key(x25519.X25519PrivateKey.generate().public_key())
        .serial_number(9)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_AFTER)
        .sign(signer, hashes.SHA256())
    )
    assert facts_from_der(certificate.public_bytes(Encoding.DER)).key_type == "X25519PublicKey"


def test_an_unknown_signature_algorithm_is_reported_by_its_dotted_oid() -> None:
    der = patched(ECDSA_SHA256_OID, ECDSA_SHA256_OID[:-1] + b"\x09")
    assert facts_from_der(der).signature_algorithm == "1.2.840.10045.4.3.9"


def test_facts_of_a_parsed_certificate_fingerprint_its_der() -> None:
    der = self_signed("EC-secp256r1")
    facts = facts_from_certificate(x509.load_der_x509_certificate(der))
    assert facts == facts_from_der(der)
    assert facts.fingerprint_sha256 == hashlib.sha256(der).hexdigest()


def test_a_signature_oid_cryptography_cannot_name_is_named_by_its_hash() -> None:
    # ecdsa-with-SHA3-256 (2.16.840.1.101.3.4.3.10, RFC 8692 / NIST CSOR): cryptography knows
    # its hash but has no name for the OID, and says "Unknown OID".
    key = key_for("EC-secp256r1")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name_with("sha3"))
        .issuer_name(name_with("sha3"))
        .public_key(key.public_key())
        .serial_number(3)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_AFTER)
        .sign(key, hashes.SHA3_256())
    )
    assert certificate.signature_algorithm_oid.dotted_string == "2.16.840.1.101.3.4.3.10"
    assert facts_from_der(certificate.public_bytes(Encoding.DER)).signature_algorithm == "sha3-256"


def test_a_signature_oid_with_neither_name_nor_hash_is_reported_by_its_dotted_oid() -> None:
    # 1.3.6.1.5.5.7.6.36 (PKIX id-alg arc): cryptography's table maps it to no hash and knows no
    # name for it; its DER is as long as ecdsa-with-SHA256's, so it can be patched in place.
    der = patched(ECDSA_SHA256_OID, bytes.fromhex("06082b06010505070624"))
    assert facts_from_der(der).signature_algorithm == "1.3.6.1.5.5.7.6.36"


@pytest.mark.parametrize(
    ("names", "canonical"),
    [
        (("Mixed.Test.",), ("mixed.test",)),  # RFC 1034 3.1: the absolute form is one name
        (("APP.EXAMPLE.BOX.",), ("app.example.box",)),
        ((".lead.example",), (".lead.example",)),  # only a trailing dot is the root
        (("tab.example\t",), ("tab.example",)),
    ],
)
def test_a_trailing_root_dot_is_not_another_name(
    names: tuple[str, ...], canonical: tuple[str, ...]
) -> None:
    facts = replace(cert(self_signed=True, is_ca=False, not_after=EARLIER), names=names)
    assert canonical_names(facts) == canonical


def test_a_blank_common_name_falls_back_to_the_fingerprint() -> None:
    facts = replace(cert(self_signed=True, is_ca=False, not_after=EARLIER), common_name="  ")
    assert canonical_names(facts) == (f"sha256:{'cd' * 32}",)


# -- subjects as RFC 4514 strings, checked against `openssl x509 -nameopt RFC2253` ------------


def subject_der(*rdns: list[x509.NameAttribute[Any]]) -> bytes:
    key = key_for("EC-secp256r1")
    name = x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(5)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_AFTER)
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )


def openssl_subject(der: bytes) -> str:
    assert OPENSSL is not None
    out = subprocess.run(
        [OPENSSL, "x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253"],
        input=der,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return out.strip().removeprefix("subject=")


def unique_id(value: bytes) -> x509.NameAttribute[Any]:
    return x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, value, _type=_ASN1Type.BitString)


@pytest.mark.skipif(OPENSSL is None, reason="openssl is installed by scripts/install.sh --test")
@pytest.mark.parametrize(
    "rdns",
    [
        # RFC 4514 2.4: a BIT STRING is "#" and the hex of its whole encoding, tag and length
        [[unique_id(b"\x00\xab\xcd")], [x509.NameAttribute(NameOID.SURNAME, "Doe")]],
        [[unique_id(b"\x00" + b"\x11" * 0x7E)]],  # the longest short-form length
        [
            [x509.NameAttribute(NameOID.COMMON_NAME, "a=b")],
            [x509.NameAttribute(NameOID.GIVEN_NAME, "J")],
        ],
    ],
)
def test_subjects_agree_with_openssl(rdns: list[list[x509.NameAttribute[Any]]]) -> None:
    der = subject_der(*rdns)
    assert facts_from_der(der).subject == openssl_subject(der)


@pytest.mark.xfail(
    strict=True, reason="a BIT STRING of 128 bytes or more keeps cryptography's form"
)
def test_a_long_unique_identifier_agrees_with_openssl() -> None:
    der = subject_der([unique_id(b"\x00" + b"\x11" * 0x7F)])
    assert facts_from_der(der).subject == openssl_subject(der)


def test_a_subject_that_is_not_valid_text_still_yields_every_other_fact() -> None:
    """A UTF8String subject that is not UTF-8: `cryptography` refuses to read the name, but the
    certificate is served and its expiry counts; before, the whole certificate was lost."""
    issued = make_leaf(make_ca("Unreadable Root"), names=("a.example.com",), common_name="Z" * 18)
    der = issued.certificate.public_bytes(Encoding.DER).replace(b"Z" * 18, b"\xff\xfe" * 9)

    facts = facts_from_der(der)

    assert facts.subject == UNREADABLE_NAME
    assert facts.issuer == "CN=Unreadable Root"
    assert facts.names == ("a.example.com",)
    assert facts.not_after == issued.certificate.not_valid_after_utc
    assert facts.self_signed is False
