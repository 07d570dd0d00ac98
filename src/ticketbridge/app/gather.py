"""Gathering observations: a local scan of endpoints and files, or JSONL made elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import Encoding

from ticketbridge.app.config import Settings, pkcs12_password
from ticketbridge.app.sources import (
    SourceCount,
    findings_for,
    merged_specs,
    observe_certificates,
    read_sources,
)
from ticketbridge.core.ctfindings import CtFindings
from ticketbridge.core.inventory import Inventory, InventoryPin, build_inventory
from ticketbridge.core.model import Endpoint, Observation, Protocol
from ticketbridge.discovery.hsts import HstsTargets
from ticketbridge.discovery.resolve import EndpointSpec, resolve_endpoints
from ticketbridge.discovery.verify import (
    TrustStoreError,
    TrustVerifier,
    load_ca_bundle,
    system_trust_anchors,
)
from ticketbridge.errors import ConfigError
from ticketbridge.infra import aio
from ticketbridge.infra.clock import utcnow_seconds as utcnow

if TYPE_CHECKING:  # the probing modules load only when a run probes (start-up, issue 18)
    from ticketbridge.discovery.interning import ObservationInterner
    from ticketbridge.discovery.tls import ProbeOptions
    from ticketbridge.discovery.workers import WorkerPool

ProgressCallback = Callable[[int, int], None]  # (completed, total)


@dataclass(frozen=True, slots=True)
class ScanResult:
    observations: tuple[Observation, ...]
    inventory: Inventory
    sources: tuple[SourceCount, ...] = ()  # what each `[[sources.*]]` file gave
    ct: CtFindings | None = None  # issued versus served, when `[[sources.ct]]` is configured


def endpoint_specs(settings: Settings) -> list[EndpointSpec]:
    return [
        EndpointSpec(
            host=entry.host,
            port=entry.port,
            addresses=tuple(entry.addresses),
            sni=entry.sni,
            protocol=Protocol(entry.starttls) if entry.starttls else Protocol.TLS,
        )
        for entry in settings.endpoints
    ]


def hsts_targets(settings: Settings) -> HstsTargets:
    """Which endpoints get the HSTS `HEAD /`: the mode, and the endpoints that say `http`."""
    flagged = [entry for entry in settings.endpoints if entry.http is not None]
    return HstsTargets(
        mode=settings.discovery.hsts,
        http_on=frozenset((e.host, e.port) for e in flagged if e.http),
        http_off=frozenset((e.host, e.port) for e in flagged if not e.http),
    )


def inventory_pins(settings: Settings) -> list[InventoryPin]:
    return [
        InventoryPin(
            names=tuple(entry.names),
            id=entry.id,
            owner=entry.owner,
            assignee=entry.assignee or None,
            lead_days=entry.lead_days,
        )
        for entry in settings.certificates
    ]


class LazyVerifier:
    """The trust verdicts of this run, with the system store parsed only if this process needs
    it: with worker processes, the workers verify and each loads the store itself."""

    def __init__(self, settings: Settings, config_path: Path) -> None:
        bundle = settings.discovery.ca_bundle
        try:
            self.extra_anchors = load_ca_bundle(
                resolve_relative(bundle, config_path) if bundle else None
            )
        except TrustStoreError as exc:
            raise ConfigError(f"{config_path}: discovery.ca_bundle: {exc}") from None
        self._verifier: TrustVerifier | None = None

    @property
    def extra_anchors_der(self) -> list[bytes]:
        return [anchor.public_bytes(Encoding.DER) for anchor in self.extra_anchors]

    def get(self) -> TrustVerifier:
        if self._verifier is None:
            self._verifier = TrustVerifier([*system_trust_anchors(), *self.extra_anchors])
        return self._verifier


def scan(
    settings: Settings,
    config_path: Path,
    environ: Mapping[str, str],
    *,
    clock: Callable[[], datetime] = utcnow,
    progress: ProgressCallback | None = None,
    pool: WorkerPool | None = None,
    shard: tuple[int, int] | None = None,
) -> ScanResult:
    """Probe every configured endpoint and read every configured file, then group by certificate.

    With a `pool` (forked before the configuration was read) large scans probe in its workers.
    With a `shard` (K, N), only the endpoints of shard K — `[[endpoints]]` and every source's
    alike — and, on shard 0 alone, the certificate files and a source's certificates.
    """
    _require_something_to_scan(settings, config_path)
    sourced = read_sources(settings, config_path)
    verifier = LazyVerifier(settings, config_path)
    reads_files = shard is None or shard[0] == 0
    observations: list[Observation] = []
    if reads_files:
        observations.extend(_observe_files(settings, config_path, environ, verifier, clock))
    if sourced.certificates and reads_files:
        observations.extend(observe_certificates(sourced.certificates, clock(), verifier.get()))
    specs = merged_specs(endpoint_specs(settings), sourced.specs)
    if shard is not None:
        from ticketbridge.app.sharding import specs_in_shard

        specs = specs_in_shard(specs, *shard)
    observations.extend(_scan_network(specs, settings, verifier, clock, progress, pool))
    observations.sort(key=lambda observation: observation.endpoint)
    inventory = build_inventory(observations, inventory_pins(settings))
    return ScanResult(
        observations=tuple(observations),
        inventory=inventory,
        sources=tuple(sourced.counts),
        ct=findings_for(inventory, sourced.logged, sourced.ct_domains, clock())
        if settings.sources.ct
        else None,
    )


def _require_something_to_scan(settings: Settings, config_path: Path) -> None:
    if not settings.endpoints and not settings.files and not settings.sources.any_endpoints:
        raise ConfigError(
            f"{config_path}: endpoints: no [[endpoints]] or [[files]] configured"
            " (nor any [[sources.*]] that lists endpoints)"
        )


def _observe_files(
    settings: Settings,
    config_path: Path,
    environ: Mapping[str, str],
    verifier: LazyVerifier,
    clock: Callable[[], datetime],
) -> list[Observation]:
    if not settings.files:
        return []
    from ticketbridge.discovery.files import FileSource, observe_files

    sources = [
        FileSource(
            pattern=str(resolve_relative(entry.path, config_path)),
            password=pkcs12_password(entry, index, config_path, environ),
        )
        for index, entry in enumerate(settings.files)
    ]
    return observe_files(sources, clock(), verifier.get())


def _scan_network(
    specs: Sequence[EndpointSpec],
    settings: Settings,
    verifier: LazyVerifier,
    clock: Callable[[], datetime],
    progress: ProgressCallback | None,
    pool: WorkerPool | None,
) -> list[Observation]:
    if not specs:
        return []
    from ticketbridge.discovery.tls import ProbeOptions

    discovery = settings.discovery
    resolution = aio.run(
        resolve_endpoints(
            specs,
            all_addresses=discovery.resolve_all_addresses,
            observed_at=clock(),
        )
    )
    endpoints = resolution.endpoints
    total = len(endpoints)
    options = ProbeOptions(
        connect_timeout=discovery.connect_timeout,
        handshake_timeout=discovery.handshake_timeout,
        hsts=hsts_targets(settings),
    )

    def report(completed: int) -> None:
        if progress:
            progress(completed, total)

    report(0)
    workers = 1  # without a pool (few endpoints: app/scan_size.py) the probes run here
    if pool is not None:
        from ticketbridge.discovery.workers import worker_count

        workers = worker_count(discovery.workers, total)
    if pool is not None and workers > 1:
        probed = pool.probe(
            endpoints,
            options,
            concurrency=discovery.concurrency,
            workers=workers,
            extra_anchors=verifier.extra_anchors_der,
            verifier=verifier.get,
            progress=report,
        )
    else:
        probed = aio.run(
            _probe_here(endpoints, options, discovery.concurrency, verifier.get(), clock, report)
        )
    return [*resolution.failures, *probed]


async def _probe_here(
    endpoints: Sequence[Endpoint],
    options: ProbeOptions,
    concurrency: int,
    verifier: TrustVerifier,
    clock: Callable[[], datetime],
    report: Callable[[int], None],
) -> list[Observation]:
    from ticketbridge.discovery.tls import probe_all

    observations = []
    async for observation in probe_all(endpoints, options, concurrency, verifier, clock):
        observations.append(observation)
        report(len(observations))
    return observations


def resolve_relative(path_text: str, config_path: Path) -> Path:
    """Paths in a config file are relative to that file's directory, so cron's cwd never matters."""
    path = Path(path_text).expanduser()
    if path.is_absolute():
        return path
    return (config_path.parent / path) if config_path.exists() else path


def check_sources(settings: Settings, config_path: Path, environ: Mapping[str, str]) -> None:
    """Every configuration problem a scan would meet, found before anything is probed: no
    sources, an unreadable CA bundle, a PKCS#12 password variable that is not set."""
    _require_something_to_scan(settings, config_path)
    LazyVerifier(settings, config_path)
    for index, entry in enumerate(settings.files):
        pkcs12_password(entry, index, config_path, environ)


def observer(
    settings: Settings,
    config_path: Path,
    environ: Mapping[str, str],
    *,
    observation_files: Sequence[Path] = (),
    scan_too: bool = False,
    clock: Callable[[], datetime] = utcnow,
    progress: ProgressCallback | None = None,
    pool: WorkerPool | None = None,
) -> Callable[[], list[Observation]]:
    """`gather`, validated now and run later: a run checks everything, takes its lock, and
    only then scans."""
    if not observation_files or scan_too:
        check_sources(settings, config_path, environ)

    def observe() -> list[Observation]:
        return gather(
            settings,
            config_path,
            environ,
            observation_files=observation_files,
            scan_too=scan_too,
            clock=clock,
            progress=progress,
            pool=pool,
        )

    return observe


def gather(
    settings: Settings,
    config_path: Path,
    environ: Mapping[str, str],
    *,
    observation_files: Sequence[Path] = (),
    scan_too: bool = False,
    clock: Callable[[], datetime] = utcnow,
    progress: ProgressCallback | None = None,
    pool: WorkerPool | None = None,
) -> list[Observation]:
    """Observations for planning: a local scan, `--observations` files, or both merged.

    Merging keeps the newest observation of each endpoint, so several scanners (one per network
    zone) can each report what only they can reach.
    """
    observations: list[Observation] = []
    from ticketbridge.app.sharding import merged_shards, observation_paths
    from ticketbridge.discovery.interning import ObservationInterner
    from ticketbridge.errors import ObservationsFileError

    interner = ObservationInterner()  # one for all the files: shards observe the same chains
    for path in observation_paths(observation_files):
        try:
            observations.extend(read_observations(path, interner))
        except ObservationsFileError as exc:
            raise ConfigError(f"--observations {exc}") from None
    if not observation_files or scan_too:
        observations.extend(
            scan(
                settings, config_path, environ, clock=clock, progress=progress, pool=pool
            ).observations
        )
    newest: dict[object, Observation] = {}
    for observation in observations:
        current = newest.get(observation.endpoint)
        if current is None or observation.observed_at >= current.observed_at:
            newest[observation.endpoint] = observation
    merged = list(newest.values())
    if observation_files:  # made elsewhere: by shards, maybe long ago
        merged = merged_shards(settings, config_path, merged, clock)
    return sorted(merged, key=lambda observation: observation.endpoint)


def read_observations(path: Path, interner: ObservationInterner) -> list[Observation]:
    """The observations of one `--observations` JSONL file; an error names the file and line.

    Each line brings its own copy of the facts thousands of lines share (100,000 observations of
    200 certificates held 560 MiB as read): `interner` points them at one object per value."""
    from ticketbridge.core.shapes import observations_from_jsonl
    from ticketbridge.errors import ObservationsFileError

    try:
        with path.open(encoding="utf-8") as handle:
            return [interner.observation(o) for o in observations_from_jsonl(handle, str(path))]
    except OSError as exc:
        raise ObservationsFileError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ObservationsFileError(f"{path}: not UTF-8 text: {exc.reason}") from None
