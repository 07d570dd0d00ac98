"""Scanning one shard of the fleet, and merging the shards' observations back into one run."""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ticketbridge.app.config import Settings
from ticketbridge.app.gather import ProgressCallback, ScanResult, endpoint_specs, scan
from ticketbridge.app.sources import merged_specs, read_sources
from ticketbridge.core.model import Endpoint, Observation, Scanner, is_ip_literal
from ticketbridge.core.shards import (
    ShardError,
    missing_shards,
    parse_shard,
    shard_label,
    shard_of,
    shards_seen,
    stale_as_unobserved,
    unobserved_in_missing_shards,
)
from ticketbridge.discovery.resolve import EndpointSpec
from ticketbridge.errors import ConfigError

if TYPE_CHECKING:
    from ticketbridge.discovery.workers import WorkerPool

log = logging.getLogger(__name__)


def shard_option(text: str | None) -> tuple[int, int] | None:
    """`--shard K/N`, checked: a bad one is a usage error naming the option."""
    if text is None:
        return None
    try:
        return parse_shard(text)
    except ShardError as exc:
        raise ConfigError(f"--shard {exc}") from None


def specs_in_shard(specs: Sequence[EndpointSpec], k: int, n: int) -> list[EndpointSpec]:
    """The endpoints of shard K of N, by SPEC's label: `host:port@address` for each explicit
    address (a spec listing several is split between shards), else `host:port` — chosen before
    resolution, whether the endpoint came from `[[endpoints]]` or a source."""
    mine: list[EndpointSpec] = []
    for spec in specs:
        if spec.addresses:
            kept = tuple(
                address
                for address in spec.addresses
                if shard_of(shard_label(spec.host, spec.port, address), n) == k
            )
            if kept:
                mine.append(dataclasses.replace(spec, addresses=kept))
        elif shard_of(shard_label(spec.host, spec.port, None), n) == k:
            mine.append(spec)
    return mine


def scan_shard(
    settings: Settings,
    config_path: Path,
    environ: Mapping[str, str],
    shard: tuple[int, int] | None,
    *,
    progress: ProgressCallback | None = None,
    pool: WorkerPool | None = None,
) -> ScanResult:
    """A scan of the whole configuration, or of one shard; every observation names its scanner."""
    shard_text = None if shard is None else f"{shard[0]}/{shard[1]}"
    result = scan(settings, config_path, environ, progress=progress, pool=pool, shard=shard)
    if shard is not None and not result.observations:
        # An empty shard still reports, so the merge can tell it from a failed one.
        log.warning("shard %s has no endpoints", shard_text)
    scanner = Scanner(host=socket.gethostname(), shard=shard_text)
    stamped = tuple(dataclasses.replace(o, scanner=scanner) for o in result.observations)
    return dataclasses.replace(result, observations=stamped)


def observation_paths(paths: Sequence[Path]) -> list[Path]:
    """`--observations` values as files: a directory's `*.jsonl`, a glob's matches, a file."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            matches = sorted(path.glob("*.jsonl"))
            if not matches:
                raise ConfigError(f"--observations {path}: no *.jsonl file in this directory")
            found.extend(matches)
        elif not path.exists() and any(char in str(path) for char in "*?["):
            matches = sorted(path.parent.glob(path.name)) if path.parent.exists() else []
            if not matches:
                raise ConfigError(f"--observations {path}: no file matches")
            found.extend(matches)
        else:
            found.append(path)
    return found


def _expected(
    settings: Settings, config_path: Path, now: datetime
) -> list[tuple[str, Observation]]:
    """Every endpoint the configuration lists (`[[endpoints]]` and the sources), with its shard
    label, as an observation template."""
    specs = merged_specs(endpoint_specs(settings), read_sources(settings, config_path).specs)
    expected = []
    for spec in specs:
        if spec.addresses:
            addresses: list[tuple[str, str | None]] = [(a, a) for a in spec.addresses]
        else:
            own = spec.host.strip("[]") if is_ip_literal(spec.host) else ""
            addresses = [(own, None)]
        for address, explicit in addresses:
            endpoint = Endpoint(
                spec.host, spec.port, address, spec.server_name, spec.protocol, source=spec.source
            )
            template = Observation(endpoint=endpoint, observed_at=now, status="error")
            expected.append((shard_label(spec.host, spec.port, explicit), template))
    return expected


def _owning(
    settings: Settings, expected: Sequence[tuple[str, Observation]], count: int | None
) -> set[int] | None:
    """The shards with something to deliver: those of the configured endpoints, and shard 0
    when it reads certificate files (or a source's certificates)."""
    if count is None:
        return None
    owning = {shard_of(label, count) for label, _ in expected}
    if settings.files or settings.sources.kubernetes:
        owning.add(0)
    return owning


def merged_shards(
    settings: Settings,
    config_path: Path,
    observations: list[Observation],
    clock: Callable[[], datetime],
) -> list[Observation]:
    """Observations from several scanners made fit to plan with: a shard that delivered
    nothing is reported by name and its endpoints are unobserved; so is anything stale."""
    try:
        count, seen = shards_seen(observations)
    except ShardError as exc:
        raise ConfigError(f"--observations: {exc}") from None
    now = clock()
    expected = _expected(settings, config_path, now) if count is not None else []
    missing = missing_shards(count, seen, _owning(settings, expected, count))
    if missing and count is not None:
        log.warning(
            "shard(s) %s delivered no observations: their endpoints are unobserved",
            ", ".join(missing),
        )
        known = {observation.endpoint for observation in observations}
        standins = unobserved_in_missing_shards(
            _expected(settings, config_path, now), missing, count
        )
        observations = [*observations, *(o for o in standins if o.endpoint not in known)]
    max_age = timedelta(hours=settings.policy.max_observation_age_hours)
    return stale_as_unobserved(observations, now, max_age)
