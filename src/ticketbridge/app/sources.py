"""Reading every `[[sources.*]]` of the configuration: endpoints to probe (merged with
`[[endpoints]]`, each probed once), certificates kept as data, and what CT logged."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ticketbridge.app.config import Settings
from ticketbridge.app.source_settings import SourcesSettings
from ticketbridge.core.ctfindings import CtFindings, LoggedCert, ct_findings
from ticketbridge.core.inventory import Inventory
from ticketbridge.core.model import Endpoint, ErrorKind, Observation, ProbeError, Protocol, Verifier
from ticketbridge.core.x509facts import effective_not_after, facts_from_der
from ticketbridge.discovery.globwalk import bounded_glob
from ticketbridge.discovery.resolve import EndpointSpec
from ticketbridge.sources.base import CertificateData, Skipped, SourceError, SourceResult, Target


@dataclass(frozen=True, slots=True)
class SourceCount:
    """What one source file gave: `scan` reports it, so a source that shrank is noticed."""

    source: str
    endpoints: int
    certificates: int = 0
    skipped: tuple[Skipped, ...] = ()


@dataclass(slots=True)
class SourcedInventory:
    """What the sources gave a scan: endpoints to probe, certificates kept as data, CT entries."""

    specs: list[EndpointSpec] = field(default_factory=list)
    certificates: list[CertificateData] = field(default_factory=list)
    counts: list[SourceCount] = field(default_factory=list)
    logged: list[LoggedCert] = field(default_factory=list)
    ct_domains: list[str] = field(default_factory=list)


def read_sources(settings: Settings, config_path: Path) -> SourcedInventory:
    """Every configured source read now, before anything is probed: a broken one stops the run
    with its file and line, never a scan that silently lost the names it lists."""
    gathered = SourcedInventory()
    for result in _results(settings.sources, config_path):
        gathered.counts.append(
            SourceCount(
                result.source,
                len(result.targets),
                len(result.certificates),
                tuple(result.skipped),
            )
        )
        gathered.specs.extend(_spec(target) for target in result.targets)
        gathered.certificates.extend(result.certificates)
    gathered.logged, ct_counts, gathered.ct_domains = read_ct_sources(settings, config_path)
    gathered.counts.extend(ct_counts)
    return gathered


def read_ct_sources(
    settings: Settings, config_path: Path
) -> tuple[list[LoggedCert], list[SourceCount], list[str]]:
    """What every `[[sources.ct]]` file logged, how many each gave, and the domains they cover."""
    logged: list[LoggedCert] = []
    counts: list[SourceCount] = []
    domains: list[str] = []
    for entry in settings.sources.ct:
        from ticketbridge.sources.ct import read_ct

        for path, label in _matches(entry.file, "ct", config_path):
            found = read_ct(path, label=label)
            logged.extend(found)
            counts.append(SourceCount(label, 0, len(found)))
        domains.extend(entry.domains)
    return logged, counts, domains


def ct_findings_of(
    settings: Settings, config_path: Path, inventory: Inventory, now: datetime
) -> CtFindings | None:
    """Issued versus served for this run's inventory, when `[[sources.ct]]` is configured.

    A name counts as listed when some endpoint of the run carries it (as host or SNI): every
    endpoint a source or `[[endpoints]]` lists is in the inventory, served or not.
    """
    if not settings.sources.ct:
        return None
    logged, _, domains = read_ct_sources(settings, config_path)
    return findings_for(inventory, logged, domains, now)


def findings_for(
    inventory: Inventory, logged: Sequence[LoggedCert], domains: Sequence[str], now: datetime
) -> CtFindings:
    observations = [
        *(o for cert in inventory.certificates for o in cert.observations),
        *inventory.unobserved,
    ]
    listed = {o.endpoint.host for o in observations} | {
        o.endpoint.sni for o in observations if o.endpoint.sni
    }
    return ct_findings(inventory, logged, listed, now, domains)


def merged_specs(
    listed: Sequence[EndpointSpec], sourced: Sequence[EndpointSpec]
) -> list[EndpointSpec]:
    """`[[endpoints]]` first, then each source's, every spec once: the same name on the same
    port at the same addresses from two sources is one endpoint (resolution merges the rest)."""
    seen: dict[tuple[object, ...], EndpointSpec] = {}
    for spec in (*listed, *sourced):
        key = (
            spec.host,
            spec.port,
            spec.addresses,
            spec.server_name,
            spec.protocol,
            spec.resolve_name,
        )
        seen.setdefault(key, spec)
    return list(seen.values())


def _spec(target: Target) -> EndpointSpec:
    return EndpointSpec(
        host=target.host,
        port=target.port,
        addresses=target.addresses,
        sni=target.sni,
        protocol=target.protocol,
        source=target.source,
        resolve_name=target.resolve_name,
    )


def _results(sources: SourcesSettings, config_path: Path) -> Iterator[SourceResult]:
    # Each reader is imported only when its kind is configured: dnspython and PyYAML cost
    # a scan of a few files more start-up than the scan itself.
    for zone in sources.zone:
        from ticketbridge.sources.zone import read_zone

        path = _anchored(zone.file, config_path)
        label = f"zone:{zone.file}"
        yield read_zone(path, origin=zone.origin, ports=zone.ports, label=label)
    for octodns in sources.octodns:
        from ticketbridge.sources.octodns import read_octodns

        pattern = octodns.path
        if _anchored(pattern, config_path).is_dir():
            pattern = os.path.join(pattern, "*.yaml")  # noqa: PTH118 - a glob, not a path
        for path, label in _matches(pattern, "octodns", config_path):
            yield read_octodns(path, zone=octodns.zone, ports=octodns.ports, label=label)
    for prometheus in sources.prometheus:
        from ticketbridge.sources.prometheus import read_file_sd

        protocol = Protocol(prometheus.starttls) if prometheus.starttls else Protocol.TLS
        for path, label in _matches(prometheus.file_sd, "prometheus", config_path):
            yield read_file_sd(
                path, default_port=prometheus.default_port, protocol=protocol, label=label
            )
    for kubernetes in sources.kubernetes:
        from ticketbridge.sources.kubernetes import read_manifests

        for path, label in _matches(kubernetes.path, "kubernetes", config_path):
            yield read_manifests(path, label=label)


def _anchored(text: str, config_path: Path) -> Path:
    """Relative to the config file's directory, as every path in it (cron's cwd never matters)."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else config_path.parent / path


def _matches(pattern: str, kind: str, config_path: Path) -> Iterator[tuple[Path, str]]:
    """The files a source's glob matches, each with its label (`kind:` and the path as seen
    from the config's directory); no match is an error, never an empty source."""
    anchored = _anchored(pattern, config_path)
    walked = bounded_glob(str(anchored))
    if walked.problems:
        raise SourceError(f"{anchored}: {'; '.join(walked.problems)}")
    if not walked.paths:
        raise SourceError(f"{anchored}: no file matches (sources.{kind})")
    for matched in walked.paths:
        path = Path(matched)
        try:
            shown = (
                str(path.relative_to(config_path.parent))
                if not Path(pattern).is_absolute()
                else matched
            )
        except ValueError:
            shown = matched
        yield path, f"{kind}:{shown}"


def observe_certificates(
    certificates: Sequence[CertificateData], observed_at: datetime, verifier: Verifier
) -> list[Observation]:
    """Certificates a source keeps as data (a Secret's `tls.crt`), observed like a file: the
    chain as written, leaf first; unreadable data is an observation of the error."""
    return [_observe(certificate, observed_at, verifier) for certificate in certificates]


def _observe(
    certificate: CertificateData, observed_at: datetime, verifier: Verifier
) -> Observation:
    endpoint = Endpoint(
        host=certificate.label,
        port=0,
        address="#0",
        sni=None,
        protocol=Protocol.FILE,
        source=certificate.source,
    )
    try:
        ders = [
            item.public_bytes(Encoding.DER)
            for item in x509.load_pem_x509_certificates(certificate.pem)
        ]
        chain = tuple(facts_from_der(der) for der in ders)
    except ValueError as exc:
        return Observation(
            endpoint=endpoint,
            observed_at=observed_at,
            status="error",
            error=ProbeError(ErrorKind.FILE, f"tls.crt holds no readable PEM certificate: {exc}"),
        )
    return Observation(
        endpoint=endpoint,
        observed_at=observed_at,
        status="ok",
        certificate=chain[0],
        chain=chain,
        effective_not_after=effective_not_after(chain),
        verification=verifier.verdict(ders, None, observed_at),
    )
