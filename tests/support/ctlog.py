"""Certificate Transparency inputs built from real certificates: precertificates with the RFC 6962
poison extension, `get-entries` answers, and crt.sh JSON exports."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from support.certs import Issued, cached_key


def make_precertificate(
    issuer: Issued,
    names: Sequence[str],
    *,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
) -> x509.Certificate:
    """A precertificate as a CA submits it to a log (RFC 6962 section 3.1): the certificate to
    be issued, with the critical poison extension (OID 1.3.6.1.4.1.11129.2.4.3), signed by the CA."""
    return (
        _builder(issuer, names, not_before, not_after, serial)
        .add_extension(x509.PrecertPoison(), critical=True)
        .sign(issuer.key, hashes.SHA256())
    )


def tbs_without_poison(issuer: Issued, precertificate: x509.Certificate) -> bytes:
    """The precertificate's TBSCertificate with the poison extension removed (RFC 6962 section
    3.2, what the log's leaf holds): the same certificate built again without it."""
    names = precertificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    rebuilt = _builder(
        issuer,
        names.value.get_values_for_type(x509.DNSName),
        precertificate.not_valid_before_utc,
        precertificate.not_valid_after_utc,
        precertificate.serial_number,
    ).sign(issuer.key, hashes.SHA256())
    return rebuilt.tbs_certificate_bytes


def _builder(
    issuer: Issued,
    names: Sequence[str],
    not_before: datetime,
    not_after: datetime,
    serial: int | None,
) -> x509.CertificateBuilder:
    key = cached_key("ec", "precert")
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    )


def _opaque24(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def _chain(certificates: Sequence[x509.Certificate]) -> bytes:
    return _opaque24(b"".join(_opaque24(c.public_bytes(Encoding.DER)) for c in certificates))


def x509_entry(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate], logged_at: datetime
) -> dict[str, str]:
    """One `get-entries` entry for a final certificate (RFC 6962 sections 3.4 and 4.6):
    MerkleTreeLeaf v1, timestamped_entry, x509_entry; extra_data the certificate_chain."""
    leaf = (
        bytes([0, 0])
        + int(logged_at.timestamp() * 1000).to_bytes(8, "big")
        + (0).to_bytes(2, "big")
        + _opaque24(certificate.public_bytes(Encoding.DER))
        + (0).to_bytes(2, "big")  # CtExtensions, empty
    )
    return {
        "leaf_input": base64.b64encode(leaf).decode(),
        "extra_data": base64.b64encode(_chain(chain)).decode(),
    }


def precert_entry(
    precertificate: x509.Certificate, issuer: Issued, logged_at: datetime
) -> dict[str, str]:
    """One `get-entries` entry for a precertificate: the leaf carries issuer_key_hash and the
    TBSCertificate without the poison; extra_data the PrecertChainEntry (precert, chain)."""
    spki = issuer.certificate.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    leaf = (
        bytes([0, 0])
        + int(logged_at.timestamp() * 1000).to_bytes(8, "big")
        + (1).to_bytes(2, "big")
        + hashlib.sha256(spki).digest()
        + _opaque24(tbs_without_poison(issuer, precertificate))
        + (0).to_bytes(2, "big")
    )
    extra = _opaque24(precertificate.public_bytes(Encoding.DER)) + _chain([issuer.certificate])
    return {
        "leaf_input": base64.b64encode(leaf).decode(),
        "extra_data": base64.b64encode(extra).decode(),
    }


def crtsh_row(certificate: x509.Certificate, logged_at: datetime, row_id: int) -> dict[str, Any]:
    """One row of crt.sh's JSON export for `certificate`, in the fields and formats it uses
    (times UTC without a zone, names one per line, serial as zero-padded hex)."""
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    dns_names = names.value.get_values_for_type(x509.DNSName)
    common = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return {
        "issuer_ca_id": 16418,
        "issuer_name": certificate.issuer.rfc4514_string(),
        "common_name": str(common[0].value) if common else dns_names[0],
        "name_value": "\n".join(dns_names),
        "id": row_id,
        "entry_timestamp": logged_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "not_before": certificate.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%S"),
        "not_after": certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S"),
        "serial_number": format(certificate.serial_number, "x").zfill(36),
    }


def write_json(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path
