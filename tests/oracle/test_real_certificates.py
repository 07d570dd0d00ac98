"""Every fact we read from real, publicly issued certificates equals what OpenSSL reads from them.

The corpus is tests/data/real-certificates (sources and licences in SOURCES.md there): chains and
roots nobody here made, with the shapes real CAs produce — EV-style subjects, v1 roots, MD2 and
SHA-1 signatures, UTF-8 names, bit-string attributes, IDN SANs.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ticketbridge.core.model import CertFacts
from ticketbridge.core.x509facts import facts_from_der

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

CORPUS = Path(__file__).resolve().parent.parent / "data" / "real-certificates"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def _certificates() -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix == ".der":
            found.append((path.name, path.read_bytes()))
        elif path.suffix == ".pem":
            for index, block in enumerate(_PEM.findall(path.read_bytes())):
                der = x509.load_pem_x509_certificate(block).public_bytes(Encoding.DER)
                found.append((f"{path.name}#{index}", der))
    return found


CERTIFICATES = _certificates()


def _openssl(der: bytes, *options: str) -> str:
    result = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", *options],
        input=der,
        capture_output=True,
        check=True,
    )
    return (result.stdout + result.stderr).decode("utf-8").strip()


def _value(der: bytes, option: str, prefix: str) -> str:
    return _openssl(der, option).removeprefix(prefix)


def _date(der: bytes, option: str, prefix: str) -> datetime:
    text = _value(der, option, prefix)
    return datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)


def _name(der: bytes, option: str) -> str:
    # RFC2253 output, but UTF-8 left as it is (not \XX-escaped) as RFC 4514 allows.
    text = _openssl(der, option, "-nameopt", "RFC2253,-esc_msb")
    return text.split("=", 1)[1]


def _type_names_folded(name: str) -> str:
    """Attribute type names compared case-insensitively (RFC 4514 §3; OpenSSL writes `street`
    where the RFC's table has `STREET`)."""
    return re.sub(
        r"(^|(?<!\\),)([A-Za-z][A-Za-z0-9-]*)=", lambda m: m[1] + m[2].lower() + "=", name
    )


def _sans(der: bytes) -> tuple[list[str], list[str]]:
    text = _openssl(der, "-ext", "subjectAltName")
    dns = re.findall(r"DNS:([^,\n]*)", text)
    ips = [str(ipaddress.ip_address(a)) for a in re.findall(r"IP Address:([0-9A-Fa-f:.]+)", text)]
    return dns, ips


@pytest.mark.parametrize(("label", "der"), CERTIFICATES, ids=[c[0] for c in CERTIFICATES])
def test_facts_equal_openssls(label: str, der: bytes) -> None:
    facts: CertFacts = facts_from_der(der)

    fingerprint = _openssl(der, "-fingerprint", "-sha256").split("=", 1)[1]
    assert facts.fingerprint_sha256 == fingerprint.replace(":", "").lower()
    assert int(facts.serial, 16) == int(_value(der, "-serial", "serial="), 16)
    assert facts.not_before == _date(der, "-startdate", "notBefore=")
    assert facts.not_after == _date(der, "-enddate", "notAfter=")
    assert _type_names_folded(facts.subject) == _type_names_folded(_name(der, "-subject"))
    assert _type_names_folded(facts.issuer) == _type_names_folded(_name(der, "-issuer"))
    dns, ips = _sans(der)
    assert list(facts.names) == dns
    assert list(facts.ip_addresses) == ips
    constraints = _openssl(der, "-ext", "basicConstraints")
    assert facts.is_ca == ("CA:TRUE" in constraints)
    text = _openssl(
        der,
        "-text",
        "-certopt",
        "no_header,no_version,no_serial,no_validity,no_subject,no_issuer,no_extensions,no_sigdump,no_aux",
    )
    assert f"Signature Algorithm: {facts.signature_algorithm}" in text
    _assert_key(facts.key_type, text)


def _assert_key(key_type: str, text: str) -> None:
    if key_type.startswith("RSA-"):
        assert "rsaEncryption" in text
        assert f"Public-Key: ({key_type.removeprefix('RSA-')} bit)" in text
    elif key_type.startswith("EC-"):
        assert "id-ecPublicKey" in text
        curve = key_type.removeprefix("EC-")
        openssl_curve = {"secp256r1": "prime256v1"}.get(curve, curve)
        assert f"ASN1 OID: {openssl_curve}" in text
    elif key_type == "unknown":  # a key neither library can load (GOST R 34.10-2001)
        assert "decode error" in text
    else:
        assert key_type.lower() in text.lower()


def test_the_corpus_holds_the_shapes_it_is_for() -> None:
    facts = [facts_from_der(der) for _, der in CERTIFICATES]
    subjects = " ".join(f.subject for f in facts)
    # EV and eID subjects, a v1 root, UTF-8 names, SHA-1 and MD2 signatures, EC and RSA keys.
    for fragment in ("serialNumber=", "GN=", "emailAddress="):
        assert fragment in subjects, fragment
    algorithms = {f.signature_algorithm for f in facts}
    assert {"sha1WithRSAEncryption", "md2WithRSAEncryption"} <= algorithms, algorithms
    assert any(f.key_type.startswith("EC-") for f in facts)
    assert len(facts) >= 20


# An EV-style subject (CA/Browser Forum EV Guidelines §9.2) with every registered attribute type
# `cryptography` prints as a dotted OID.
EV_SUBJECT = [
    ("2.5.4.6", "US"),
    ("1.3.6.1.4.1.311.60.2.1.3", "US"),
    ("1.3.6.1.4.1.311.60.2.1.2", "Delaware"),
    ("1.3.6.1.4.1.311.60.2.1.1", "Wilmington"),
    ("2.5.4.15", "Private Organization"),
    ("2.5.4.5", "5157550"),
    ("2.5.4.17", "94107"),
    ("2.5.4.9", "88 Colin P Kelly, Jr Street"),
    ("2.5.4.10", "GitHub, Inc."),
    ("2.5.4.3", "github.com"),
    ("2.5.4.97", "VATDE-123456789"),
    ("2.5.4.12", "Dr"),
    ("2.5.4.42", "John"),
    ("2.5.4.4", "Smith"),
    ("2.5.4.46", "qualifier"),
    ("2.5.4.65", "pseudonym"),
    ("2.5.4.43", "JS"),
    ("2.5.4.44", "III"),
    ("1.2.840.113549.1.9.1", "hostmaster@example.com"),
]


def test_registered_attribute_types_print_as_openssl_prints_them() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.name import _ASN1Type

    printable = {"2.5.4.6", "1.3.6.1.4.1.311.60.2.1.3", "2.5.4.5", "2.5.4.46"}
    name = x509.Name(
        [
            x509.NameAttribute(
                x509.ObjectIdentifier(oid),
                value,
                _ASN1Type.PrintableString if oid in printable else _ASN1Type.UTF8String,
            )
            for oid, value in EV_SUBJECT
        ]
    )
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now.replace(year=2027))
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(Encoding.DER)

    subject = facts_from_der(der).subject

    assert "2.5.4" not in subject and "1.3.6" not in subject, subject
    assert _type_names_folded(subject) == _type_names_folded(_name(der, "-subject"))
