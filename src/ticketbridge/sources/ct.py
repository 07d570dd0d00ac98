"""`[[sources.ct]]`: certificates logged in Certificate Transparency, from offline files: crt.sh's
JSON export, or RFC 6962 `get-entries` answers saved from a log."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from ticketbridge.core.ctfindings import LoggedCert, normalised_serial
from ticketbridge.core.x509facts import (
    CertificateParseError,
    canonical_name,
    canonical_names,
    facts_from_der,
)
from ticketbridge.sources.base import SourceError, read_source_text

# crt.sh's JSON export (`https://crt.sh/?q=<domain>&output=json`) is a list of objects with
# `issuer_name`, `common_name`, `name_value` (the certificate's names, one per line), `id`,
# `entry_timestamp`, `not_before`, `not_after` (UTC, ISO 8601 without a zone) and
# `serial_number` (hex). crt.sh documents no schema; these are the fields its export has
# carried for years (e.g. the sample in github.com/wordeater/Format-CRTResponse's README).
_CRTSH_FIELDS = ("name_value", "not_before", "not_after", "serial_number")


def read_ct(path: Path, *, label: str) -> list[LoggedCert]:
    """The certificates one CT export lists; a broken file names the file and entry."""
    text = read_source_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise SourceError(f"{path}: invalid JSON: nested too deeply") from None
    if isinstance(document, list):
        return [_crtsh_entry(path, index, entry, label) for index, entry in enumerate(document)]
    if isinstance(document, dict) and isinstance(document.get("entries"), list):
        return [
            _log_entry(path, index, entry, label) for index, entry in enumerate(document["entries"])
        ]
    raise SourceError(
        f'{path}: neither a crt.sh JSON export (a list) nor a get-entries answer ({{"entries"}})'
    )


def _crtsh_entry(path: Path, index: int, entry: Any, label: str) -> LoggedCert:
    where = f"{path}: entry {index}"
    if not isinstance(entry, dict) or any(not isinstance(entry.get(k), str) for k in _CRTSH_FIELDS):
        raise SourceError(f"{where}: a crt.sh entry needs {', '.join(_CRTSH_FIELDS)}")
    names = {
        canonical_name(name)
        for name in entry["name_value"].splitlines()
        if name.strip() and "@" not in name  # S/MIME addresses share the field
    }
    return LoggedCert(
        serial=normalised_serial(entry["serial_number"]),
        names=tuple(sorted(names)),
        not_before=_utc(where, entry["not_before"]),
        not_after=_utc(where, entry["not_after"]),
        issuer=str(entry.get("issuer_name", "")),
        source=label,
        logged_at=_utc(where, entry["entry_timestamp"]) if entry.get("entry_timestamp") else None,
    )


def _utc(where: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"{where}: {text!r} is not an ISO 8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# RFC 6962 section 4.6: get-entries answers `{"entries": [{"leaf_input", "extra_data"}]}`, both
# base64. `leaf_input` is a MerkleTreeLeaf (section 3.4): version (1 byte, v1 = 0), leaf_type
# (1 byte, timestamped_entry = 0), timestamp (8 bytes, ms since the epoch), entry_type (2 bytes:
# x509_entry = 0, precert_entry = 1), then for x509_entry the certificate as a 3-byte length
# and DER. For precert_entry the leaf holds only the TBSCertificate; `extra_data` holds the
# PrecertChainEntry whose first field is the whole precertificate (3-byte length and DER), with
# the critical poison extension of section 3.1 (OID 1.3.6.1.4.1.11129.2.4.3).
_X509_ENTRY, _PRECERT_ENTRY = 0, 1


def _log_entry(path: Path, index: int, entry: Any, label: str) -> LoggedCert:
    where = f"{path}: entry {index}"
    try:
        leaf = base64.b64decode(entry["leaf_input"], validate=True)
        extra = base64.b64decode(entry["extra_data"], validate=True)
    except (KeyError, TypeError, binascii.Error, ValueError):
        raise SourceError(f"{where}: needs base64 `leaf_input` and `extra_data`") from None
    if len(leaf) < 12 or leaf[0] != 0 or leaf[1] != 0:
        raise SourceError(f"{where}: leaf_input is not a v1 timestamped MerkleTreeLeaf")
    logged_at = datetime.fromtimestamp(int.from_bytes(leaf[2:10], "big") / 1000, UTC)
    entry_type = int.from_bytes(leaf[10:12], "big")
    if entry_type == _X509_ENTRY:
        der = _opaque24(where, leaf, 12)
    elif entry_type == _PRECERT_ENTRY:
        der = _opaque24(where, extra, 0)
    else:
        raise SourceError(f"{where}: unknown LogEntryType {entry_type}")
    return _logged(where, der, entry_type == _PRECERT_ENTRY, logged_at, label)


def _opaque24(where: str, data: bytes, offset: int) -> bytes:
    if len(data) < offset + 3:
        raise SourceError(f"{where}: truncated certificate")
    length = int.from_bytes(data[offset : offset + 3], "big")
    body = data[offset + 3 : offset + 3 + length]
    if length == 0 or len(body) != length:
        raise SourceError(f"{where}: truncated certificate")
    return body


def _logged(where: str, der: bytes, precert: bool, logged_at: datetime, label: str) -> LoggedCert:
    try:
        facts = facts_from_der(der)
        poisoned = _has_poison(der)
    except (CertificateParseError, ValueError) as exc:
        raise SourceError(f"{where}: not a certificate: {exc}") from None
    if precert and not poisoned:
        raise SourceError(f"{where}: a precert_entry without the RFC 6962 poison extension")
    return LoggedCert(
        serial=facts.serial,
        names=canonical_names(facts),
        not_before=facts.not_before,
        not_after=facts.not_after,
        issuer=facts.issuer,
        source=label,
        precertificate=precert,
        logged_at=logged_at,
    )


def _has_poison(der: bytes) -> bool:
    certificate = x509.load_der_x509_certificate(der)
    try:
        certificate.extensions.get_extension_for_oid(ExtensionOID.PRECERT_POISON)
    except x509.ExtensionNotFound:
        return False
    return True
