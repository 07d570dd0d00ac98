"""The shell around the pure core: gather observations, decide, act; the CLI calls only this."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ticketbridge.config import ConfigError, Settings, pkcs12_password
from ticketbridge.discovery.resolve import EndpointSpec, resolve_endpoints
from ticketbridge.discovery.tls import ProbeOptions, probe_all
from ticketbridge.discovery.verify import TrustStoreError, TrustVerifier
from ticketbridge.inventory import Inventory, InventoryPin, build_inventory
from ticketbridge.model import Observation, Protocol

ProgressCallback = Callable[[int, int], None]  # (completed, total)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class ScanResult:
    observations: tuple[Observation, ...]
    inventory: Inventory


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


def trust_verifier(settings: Settings, config_path: Path) -> TrustVerifier:
    try:
        return TrustVerifier.from_config(settings.discovery.ca_bundle or None)
    except TrustStoreError as exc:
        raise ConfigError(f"{config_path}: discovery.ca_bundle: {exc}") from None


def scan(
    settings: Settings,
    config_path: Path,
    environ: Mapping[str, str],
    *,
    clock: Callable[[], datetime] = utcnow,
    progress: ProgressCallback | None = None,
) -> ScanResult:
    """Probe every configured endpoint and read every configured file, then group by certificate."""
    if not settings.endpoints and not settings.files:
        raise ConfigError(f"{config_path}: endpoints: no [[endpoints]] or [[files]] configured")
    verifier = trust_verifier(settings, config_path)
    observations = list(_observe_files(settings, config_path, environ, verifier, clock))
    observations.extend(asyncio.run(_scan_network(settings, verifier, clock, progress)))
    observations.sort(key=lambda observation: observation.endpoint)
    return ScanResult(
        observations=tuple(observations),
        inventory=build_inventory(observations, inventory_pins(settings)),
    )


def _observe_files(
    settings: Settings,
    config_path: Path,
    environ: Mapping[str, str],
    verifier: TrustVerifier,
    clock: Callable[[], datetime],
) -> list[Observation]:
    if not settings.files:
        return []
    from ticketbridge.discovery.files import FileSource, observe_files

    sources = [
        FileSource(pattern=entry.path, password=pkcs12_password(entry, index, config_path, environ))
        for index, entry in enumerate(settings.files)
    ]
    return observe_files(sources, clock(), verifier)


async def _scan_network(
    settings: Settings,
    verifier: TrustVerifier,
    clock: Callable[[], datetime],
    progress: ProgressCallback | None,
) -> list[Observation]:
    if not settings.endpoints:
        return []
    discovery = settings.discovery
    resolution = await resolve_endpoints(
        endpoint_specs(settings),
        all_addresses=discovery.resolve_all_addresses,
        observed_at=clock(),
    )
    observations = list(resolution.failures)
    total = len(resolution.endpoints)
    options = ProbeOptions(
        connect_timeout=discovery.connect_timeout, handshake_timeout=discovery.handshake_timeout
    )
    if progress:
        progress(0, total)
    async for observation in probe_all(
        resolution.endpoints, options, discovery.concurrency, verifier, clock
    ):
        observations.append(observation)
        if progress:
            progress(len(observations) - len(resolution.failures), total)
    return observations
