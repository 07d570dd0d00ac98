"""Certificates on disk (`[[files]]`): globs to PEM, DER and PKCS#12 files to observations."""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from ticketbridge.core.model import (
    CertFacts,
    Endpoint,
    ErrorKind,
    Observation,
    ProbeError,
    Protocol,
    Verification,
    Verifier,
)
from ticketbridge.core.x509facts import facts_from_der
from ticketbridge.discovery.globwalk import bounded_glob
from ticketbridge.discovery.servedpaths import bundle_chains, path_facts

# Certificate files are kilobytes; a CA bundle is a few hundred. Anything this large is a mistake
# (a log, a disk image) and must not be read whole into memory.
MAX_FILE_BYTES = 16 * 1024 * 1024
# Every readable certificate is judged: a file holding more than this is refused with one line
# rather than verified for minutes (issue 15; a system CA bundle holds about 150). Unreadable
# blocks cost no verdict and are still reported one by one.
MAX_CERTIFICATES_PER_FILE = 1000

_CERTIFICATE_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE"})
# One pass over every armour line keeps the scan linear even in a file of unterminated BEGINs.
_PEM_MARKER = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 ]{1,64})-----")
_CERTIFICATE_BEGIN = re.compile(
    rb"-----BEGIN (?:" + rb"|".join(map(re.escape, sorted(_CERTIFICATE_LABELS))) + rb")-----"
)
# PKCS#12 is a DER SEQUENCE { version 3, ContentInfo { pkcs7-data ... } }: this OID near the start
# tells "a PKCS#12 we could not open" apart from plain garbage.
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")


@dataclass(frozen=True, slots=True)
class FileSource:
    """One `[[files]]` entry: a glob (`**` allowed) and the PKCS#12 password, if any."""

    pattern: str
    password: bytes | None = None

    def __repr__(self) -> str:
        # Sources end up in logs and tracebacks; the password must not.
        hidden = "None" if self.password is None else "'***'"
        return f"FileSource(pattern={self.pattern!r}, password={hidden})"


class _FileProblem(Exception):
    """A file-level failure, already phrased as the one-line message an operator reads."""


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One certificate found in a file, at its position among the file's certificates."""

    index: int
    der: bytes
    facts: CertFacts


@dataclass(frozen=True, slots=True)
class _Broken:
    """A certificate-shaped block that could not be read, at its position in the file."""

    index: int
    message: str


_Entry = _Parsed | _Broken


def observe_files(
    sources: Sequence[FileSource], observed_at: datetime, verifier: Verifier | None = None
) -> list[Observation]:
    """Observe every certificate in every file the sources' globs match; never raises on content."""
    observations: list[Observation] = []
    seen: set[str] = set()
    for source in sources:
        # A file's label (its endpoint) is its absolute, normalised path: the same in evidence
        # and audit however the config file or the pattern was spelled, from whatever directory.
        pattern = os.path.abspath(os.path.expanduser(source.pattern))  # noqa: PTH100, PTH111
        walked = bounded_glob(pattern)
        matches = walked.paths
        problems = list(walked.problems)
        if not matches:
            problems.insert(0, f"no file matches {_one_line(pattern)}")
        if problems:
            # A walk cut short is reported, never silently taken as everything there is.
            observations.append(_error(pattern, "", "; ".join(problems), observed_at))
        for path in matches:
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            observations.extend(_observe_file(path, source.password, observed_at, verifier))
    return observations


def _observe_file(
    path: str, password: bytes | None, observed_at: datetime, verifier: Verifier | None
) -> list[Observation]:
    try:
        entries = _read_certificates(_read_bounded(path), password)
        readable = sum(isinstance(entry, _Parsed) for entry in entries)
        if readable > MAX_CERTIFICATES_PER_FILE:
            raise _FileProblem(
                f"{readable} certificates, over the limit of {MAX_CERTIFICATES_PER_FILE}"
            )
    except _FileProblem as problem:
        return [_error(path, "", str(problem), observed_at)]
    observations: list[Observation] = []
    for group in _group_into_chains(entries):
        if isinstance(group, _Broken):
            observations.append(_error(path, f"#{group.index}", group.message, observed_at))
        else:
            observations.append(_observation(path, group, observed_at, verifier))
    return observations


def _read_bounded(path: str) -> bytes:
    # O_NONBLOCK: a FIFO matched by a glob must not hang the run waiting for a writer.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _FileProblem(f"cannot open: {_os_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _FileProblem("not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _FileProblem(f"{_mib(info.st_size)} is over the {_mib(MAX_FILE_BYTES)} limit")
        chunks: list[bytes] = []
        remaining = MAX_FILE_BYTES + 1  # the file may grow between fstat and read
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise _FileProblem(f"cannot read: {_os_reason(exc)}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise _FileProblem(f"file grew past the {_mib(MAX_FILE_BYTES)} limit while being read")
    return data


def _read_certificates(data: bytes, password: bytes | None) -> list[_Entry]:
    """Detect the format by content: PEM armour, else one DER certificate, else PKCS#12."""
    if not data.strip():
        raise _FileProblem("empty file")
    if b"-----BEGIN " in data:
        # Counted before any is decoded: 200,000 unterminated BEGIN lines are one error, not
        # 200,000 error observations.
        blocks = len(_CERTIFICATE_BEGIN.findall(data))
        if blocks > MAX_CERTIFICATES_PER_FILE:
            raise _FileProblem(
                f"{blocks} PEM certificate blocks, over the limit of {MAX_CERTIFICATES_PER_FILE}"
            )
        entries = list(_pem_certificates(data))
        if not entries:
            raise _FileProblem("no CERTIFICATE block in PEM file")
        return entries
    single = _parse(0, data)
    if isinstance(single, _Parsed):
        return [single]
    return _pkcs12_certificates(data, password)


def _pem_certificates(data: bytes) -> Iterator[_Entry]:
    index = 0
    open_label: bytes | None = None
    body_start = 0
    for marker in _PEM_MARKER.finditer(data):
        kind, label = marker.group(1), marker.group(2)
        if kind == b"BEGIN":
            if open_label in _CERTIFICATE_LABELS:
                yield _Broken(index, "PEM CERTIFICATE block without an END line")
                index += 1
            open_label, body_start = label, marker.end()
            continue
        if open_label is None:
            continue  # a stray END line is garbage between blocks
        if open_label in _CERTIFICATE_LABELS:
            if label != open_label:
                yield _Broken(index, "PEM CERTIFICATE block closed by a different END line")
            else:
                yield _certificate_from_base64(index, data[body_start : marker.start()])
            index += 1
        open_label = None
    if open_label in _CERTIFICATE_LABELS:
        yield _Broken(index, "PEM CERTIFICATE block without an END line")


def _certificate_from_base64(index: int, body: bytes) -> _Entry:
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return _Broken(index, "PEM CERTIFICATE block is not valid base64")
    return _parse(index, der)


def _parse(index: int, der: bytes) -> _Entry:
    try:
        return _Parsed(index, der, facts_from_der(der))
    except Exception as exc:  # noqa: BLE001 - hostile DER must become data, whatever it raises
        return _Broken(index, f"unreadable certificate: {_one_line(str(exc))[:200]}")


def _pkcs12_certificates(data: bytes, password: bytes | None) -> list[_Entry]:
    # Exports "without a password" often use the empty one; OpenSSL treats the two differently.
    attempts = [password] if password is not None else [None, b""]
    bundle = next(
        (loaded for attempt in attempts if (loaded := _load_pkcs12(data, attempt)) is not None),
        None,
    )
    if bundle is None:
        if _PKCS7_DATA_OID not in data[:64]:
            raise _FileProblem("not a PEM, DER or PKCS#12 certificate file")
        if password is None:
            raise _FileProblem("PKCS#12 file is encrypted and no password is configured")
        raise _FileProblem("PKCS#12 file could not be opened: wrong password or corrupt file")
    if bundle.cert is None:
        raise _FileProblem("PKCS#12 file holds no certificate")
    leaf = bundle.cert.certificate
    others = [extra.certificate for extra in bundle.additional_certs]
    ordered = [leaf, *_issuer_order(leaf, others)]
    return [_parse(index, cert.public_bytes(Encoding.DER)) for index, cert in enumerate(ordered)]


def _load_pkcs12(data: bytes, password: bytes | None) -> pkcs12.PKCS12KeyAndCertificates | None:
    try:
        return pkcs12.load_pkcs12(data, password)
    except Exception:  # noqa: BLE001 - ValueError for a wrong password; hostile input, anything
        return None


def _issuer_order(leaf: x509.Certificate, others: list[x509.Certificate]) -> list[x509.Certificate]:
    """The extra certificates with the leaf's issuer chain first, then the rest as stored.

    PKCS#12 keeps no order for its extra certificates; PEM files do, so only this path reorders.
    """
    remaining = list(others)
    chain: list[x509.Certificate] = []
    current = leaf
    while current.issuer != current.subject:
        parent = next((cert for cert in remaining if cert.subject == current.issuer), None)
        if parent is None:
            break
        remaining.remove(parent)
        chain.append(parent)
        current = parent
    return [*chain, *remaining]


def _group_into_chains(entries: list[_Entry]) -> list[_Chain | _Broken]:
    """Each tracked certificate with its issuers from anywhere in the file (SPEC: a `[[files]]`
    bundle builds each leaf's path from every certificate in the file, in any order), and the
    blocks that could not be read, in file order."""
    groups: list[_Chain | _Broken] = [entry for entry in entries if isinstance(entry, _Broken)]
    groups.extend(_chains([entry for entry in entries if isinstance(entry, _Parsed)]))
    return sorted(groups, key=lambda group: group.index)


def _chains(parsed: list[_Parsed]) -> Iterator[_Chain]:
    if not parsed:
        return
    try:
        bundle = bundle_chains([entry.der for entry in parsed])
    except Exception:  # noqa: BLE001 - hostile DER: every certificate stands on its own
        yield from (_Chain([entry]) for entry in parsed)
        return
    strays = [parsed[i] for i in bundle.strays]
    for position, (leaf, issuers) in enumerate(bundle.chains):
        members = [parsed[leaf], *(parsed[i] for i in issuers)]
        # The file's strays are reported once, with its first tracked certificate.
        yield _Chain(members, strays if position == 0 else [])


@dataclass(frozen=True, slots=True)
class _Chain:
    """One tracked certificate of a file, its issuers in file order, and strays to report."""

    members: list[_Parsed]
    strays: list[_Parsed] = field(default_factory=list)

    @property
    def index(self) -> int:
        return self.members[0].index


def _observation(
    path: str, group: _Chain, observed_at: datetime, verifier: Verifier | None
) -> Observation:
    chain = tuple(entry.facts for entry in group.members)
    ders = [entry.der for entry in group.members]
    paths = path_facts(ders, chain, verifier)
    return Observation(
        endpoint=_endpoint(path, f"#{group.members[0].index}"),
        observed_at=observed_at,
        status="ok",
        certificate=chain[0],
        chain=chain,
        effective_not_after=paths.effective_not_after,
        verification=_verify(verifier, ders, observed_at),
        validated_path_not_after=paths.validated_path_not_after,
        strays=paths.strays + tuple(entry.facts for entry in group.strays),
    )


def _verify(
    verifier: Verifier | None, chain: list[bytes], observed_at: datetime
) -> Verification | None:
    if verifier is None:
        return None
    try:
        return verifier.verdict(chain, None, observed_at)
    except Exception as exc:  # noqa: BLE001 - a verdict failure is a verdict, never a lost file
        return Verification(
            trusted=False, hostname_match=True, error=f"verification failed: {type(exc).__name__}"
        )


def _endpoint(path: str, address: str) -> Endpoint:
    return Endpoint(host=path, port=0, address=address, sni=None, protocol=Protocol.FILE)


def _error(path: str, address: str, message: str, observed_at: datetime) -> Observation:
    return Observation(
        endpoint=_endpoint(path, address),
        observed_at=observed_at,
        status="error",
        error=ProbeError(kind=ErrorKind.FILE, message=message),
    )


def _os_reason(exc: OSError) -> str:
    # str(exc) repeats the path, which the endpoint already carries; the reason alone is one line.
    return exc.strerror or type(exc).__name__


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _one_line(text: str) -> str:
    return " ".join(text.split())
