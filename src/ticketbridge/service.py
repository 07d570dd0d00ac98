"""The shell around the pure core: gather observations, decide, act; the CLI calls only this."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ticketbridge.apply import ApplyReport, apply_plan
from ticketbridge.codec import ObservationsFileError, read_observations
from ticketbridge.config import ConfigError, Settings, pkcs12_password
from ticketbridge.discovery.resolve import EndpointSpec, resolve_endpoints
from ticketbridge.discovery.tls import ProbeOptions, probe_all
from ticketbridge.discovery.verify import TrustStoreError, TrustVerifier
from ticketbridge.discovery.workers import can_fork, probe_in_workers, worker_count
from ticketbridge.inventory import Inventory, InventoryPin, build_inventory
from ticketbridge.model import Endpoint, Observation, Protocol
from ticketbridge.plan import Pager, Plan
from ticketbridge.policy import Policy
from ticketbridge.reconcile import plan as decide
from ticketbridge.runlock import RunLock
from ticketbridge.tickets.base import TicketSystem

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
        bundle = settings.discovery.ca_bundle
        return TrustVerifier.from_config(resolve_relative(bundle, config_path) if bundle else None)
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
    observations.extend(_scan_network(settings, verifier, clock, progress))
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
        FileSource(
            pattern=str(resolve_relative(entry.path, config_path)),
            password=pkcs12_password(entry, index, config_path, environ),
        )
        for index, entry in enumerate(settings.files)
    ]
    return observe_files(sources, clock(), verifier)


def _scan_network(
    settings: Settings,
    verifier: TrustVerifier,
    clock: Callable[[], datetime],
    progress: ProgressCallback | None,
) -> list[Observation]:
    if not settings.endpoints:
        return []
    discovery = settings.discovery
    resolution = asyncio.run(
        resolve_endpoints(
            endpoint_specs(settings),
            all_addresses=discovery.resolve_all_addresses,
            observed_at=clock(),
        )
    )
    endpoints = resolution.endpoints
    total = len(endpoints)
    options = ProbeOptions(
        connect_timeout=discovery.connect_timeout, handshake_timeout=discovery.handshake_timeout
    )

    def report(completed: int) -> None:
        if progress:
            progress(completed, total)

    report(0)
    workers = worker_count(discovery.workers, total)
    if workers > 1 and can_fork():
        probed = probe_in_workers(
            endpoints, options, discovery.concurrency, workers, verifier, clock, report
        )
    else:
        probed = asyncio.run(
            _probe_here(endpoints, options, discovery.concurrency, verifier, clock, report)
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


def policy_of(settings: Settings) -> Policy:
    policy = settings.policy
    return Policy(
        lead_days=policy.lead_days,
        ticket_horizon_days=policy.ticket_horizon_days,
        escalate_within_days=policy.escalate_within_days,
        page_within_days=policy.page_within_days,
        timezone=policy.timezone,
        keep_earlier_due_date=policy.keep_earlier_due_date,
        resolve_on_renewal=policy.resolve_on_renewal,
        max_changes=policy.max_changes,
        escalation_priority=settings.jira.escalation_priority,
    )


def validated_policy(settings: Settings, config_path: Path) -> Policy:
    try:
        return policy_of(settings)
    except ValueError as exc:
        message = str(exc)
        key, _, detail = message.partition(" ")
        key = key.replace("policy.escalation_priority", "jira.escalation_priority")
        if key.startswith(("policy.", "jira.")):
            raise ConfigError(f"{config_path}: {key.rstrip(':')}: {detail}") from None
        raise ConfigError(f"{config_path}: policy: {message}") from None


def ticket_system(
    settings: Settings, config_path: Path, *, clock: Callable[[], datetime] = utcnow
) -> TicketSystem:
    """The configured backend: the embedded SQLite store, or Jira."""
    if settings.tickets.backend == "jira":
        from ticketbridge.tickets.jira import JiraTicketSystem

        try:
            return JiraTicketSystem.from_settings(settings.jira, clock=clock)
        except ConfigError as exc:
            raise ConfigError(f"{config_path}: {exc}") from None
    from ticketbridge.tickets.local import LocalTicketStore

    return LocalTicketStore(resolve_relative(settings.tickets.local_path, config_path), clock=clock)


def lock_path(settings: Settings, config_path: Path) -> Path:
    return resolve_relative(settings.tickets.lock_path, config_path)


def gather(
    settings: Settings,
    config_path: Path,
    environ: Mapping[str, str],
    *,
    observation_files: Sequence[Path] = (),
    scan_too: bool = False,
    clock: Callable[[], datetime] = utcnow,
    progress: ProgressCallback | None = None,
) -> list[Observation]:
    """Observations for planning: a local scan, `--observations` files, or both merged.

    Merging keeps the newest observation of each endpoint, so several scanners (one per network
    zone) can each report what only they can reach.
    """
    observations: list[Observation] = []
    for path in observation_files:
        try:
            observations.extend(read_observations(path))
        except ObservationsFileError as exc:
            raise ConfigError(f"--observations {exc}") from None
    if not observation_files or scan_too:
        observations.extend(
            scan(settings, config_path, environ, clock=clock, progress=progress).observations
        )
    newest: dict[object, Observation] = {}
    for observation in observations:
        current = newest.get(observation.endpoint)
        if current is None or observation.observed_at >= current.observed_at:
            newest[observation.endpoint] = observation
    return sorted(newest.values(), key=lambda observation: observation.endpoint)


def make_plan(
    settings: Settings,
    config_path: Path,
    observations: Sequence[Observation],
    tickets: TicketSystem,
    *,
    now: datetime,
    paging: bool,
) -> Plan:
    inventory = build_inventory(observations, inventory_pins(settings))
    policy = validated_policy(settings, config_path)
    # With no on-call sink configured a page would reach nobody: it is not planned at all.
    return decide(inventory, tickets.open_tickets(), policy, now, paging=paging)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    plan: Plan
    report: ApplyReport | None  # None for a dry run


def reconcile(
    settings: Settings,
    config_path: Path,
    observations: Sequence[Observation],
    *,
    dry_run: bool,
    force: bool,
    max_changes: int | None,
    now: datetime,
    pager: Pager | None = None,
    tickets: TicketSystem | None = None,
) -> RunOutcome:
    """Plan, refuse an unsafe plan, and apply it under the run lock (unless a dry run)."""
    backend = tickets if tickets is not None else ticket_system(settings, config_path)
    if dry_run:
        return RunOutcome(
            make_plan(
                settings, config_path, observations, backend, now=now, paging=pager is not None
            ),
            None,
        )
    limit = settings.policy.max_changes if max_changes is None else max_changes
    with RunLock(lock_path(settings, config_path)):
        plan = make_plan(
            settings, config_path, observations, backend, now=now, paging=pager is not None
        )
        plan.raise_if_unsafe(limit, force)
        report = apply_plan(plan, backend, pager)
    return RunOutcome(plan, report)
