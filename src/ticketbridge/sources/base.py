"""What every source yields: endpoints to probe (with where they came from), names reported but
not probed, certificates kept as data, and the one error a source raises when it cannot be read."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ticketbridge.core.model import Protocol
from ticketbridge.errors import ConfigError

# A zone, a manifest dump or a CT export is megabytes; a cap keeps a mistaken path (a disk
# image, /dev/zero) from eating the memory of the run before a parser even sees it.
MAX_SOURCE_BYTES = 256 * 1024 * 1024


class SourceError(ConfigError):
    """A source that cannot be read: one line naming the file (and line, where there is one).

    Never an empty list instead (octoDNS's ZoneFileSource raises ZoneFileSourceNotFound and
    ZoneFileSourceLoadFailure for the same reason): a source that silently yields nothing would
    make every endpoint it lists look decommissioned.
    """


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint a source lists, before resolution.

    `addresses` are those the source itself gives (a zone's A/AAAA records, a load balancer's
    status); empty means resolve `resolve_name` (a CNAME target outside the zone), else `host`.
    """

    host: str
    port: int
    source: str
    addresses: tuple[str, ...] = ()
    sni: str | None = None
    protocol: Protocol = Protocol.TLS
    resolve_name: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A name a source lists that is reported, not probed (a wildcard owner, a dangling CNAME)."""

    name: str
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class CertificateData:
    """Certificates a source holds as data (a `kubernetes.io/tls` Secret): PEM, leaf first."""

    label: str  # where it is kept: `manifests/tls.yaml#secret/default/web-tls`
    pem: bytes
    source: str


@dataclass(slots=True)
class SourceResult:
    """Everything one configured source gave."""

    source: str
    targets: list[Target] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    certificates: list[CertificateData] = field(default_factory=list)


def source_label(kind: str, path: Path | str) -> str:
    """`zone:zones/db.example.com` (SPEC): the kind and the path as the config spelled it."""
    return f"{kind}:{path}"


def read_source_bytes(path: Path) -> bytes:
    """The file's bytes, or a SourceError naming it: never a hang on a FIFO, never unbounded."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SourceError(f"{path}: not a regular file")
        chunks, total = [], 0
        while total <= MAX_SOURCE_BYTES:
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > MAX_SOURCE_BYTES:
        raise SourceError(f"{path}: larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB")
    return b"".join(chunks)


def read_source_text(path: Path) -> str:
    try:
        return read_source_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (byte {exc.start})") from None
