"""Scanning one shard of the fleet, and merging the shards' observations back into one run."""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from ticketbridge.app.config import EndpointSettings, Settings
from ticketbridge.app.gather import ProgressCallback, ScanResult, endpoint_specs, scan
from ticketbridge.core.inventory import Inventory, build_inventory
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
from ticketbridge.discovery.workers import WorkerPool
from ticketbridge.errors import ConfigError

log = logging.getLogger(__name__)


def shard_option(text: str | None) -> tuple[int, int] | None:
    """`--shard K/N`, checked: a bad one is a usage error naming the option."""
    if text is None:
        return None
    try:
        return parse_shard(text)
    except ShardError as exc:
        raise ConfigError(f"--shard {exc}") from None


def _entry_label(entry: EndpointSettings, address: str | None) -> str:
    return shard_label(entry.host, entry.port, address)


def settings_for_shard(settings: Settings, k: int, n: int) -> Settings:
    """Only the endpoints whose shard is K of N (an entry with several explicit addresses is
    split: each address is its own endpoint). `[[files]]` are read by shard 0 alone."""
    endpoints: list[EndpointSettings] = []
    for entry in settings.endpoints:
        if entry.addresses:
            endpoints.extend(
                dataclasses.replace(entry, addresses=(address,))
                for address in entry.addresses
                if shard_of(_entry_label(entry, address), n) == k
            )
        elif shard_of(_entry_label(entry, None), n) == k:
            endpoints.append(entry)
    files = settings.files if k == 0 else []
    return settings.model_copy(update={"endpoints": endpoints, "files": files})


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
    shard_text = None
    if shard is not None:
        k, n = shard
        shard_text = f"{k}/{n}"
        settings = settings_for_shard(settings, k, n)
        if not settings.endpoints and not settings.files:
            # An empty shard still reports, so the merge can tell it from a failed one.
            log.warning("shard %s has no endpoints", shard_text)
            return ScanResult(observations=(), inventory=_empty_inventory())
    result = scan(settings, config_path, environ, progress=progress, pool=pool)
    scanner = Scanner(host=socket.gethostname(), shard=shard_text)
    stamped = tuple(dataclasses.replace(o, scanner=scanner) for o in result.observations)
    return dataclasses.replace(result, observations=stamped)


def _empty_inventory() -> Inventory:
    return build_inventory([], [])


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


def _expected(settings: Settings, now: datetime) -> list[tuple[str, Observation]]:
    """Every configured endpoint with its shard label, as an observation template."""
    expected = []
    for entry, spec in zip(settings.endpoints, endpoint_specs(settings), strict=True):
        if spec.addresses:
            addresses: list[tuple[str, str | None]] = [(a, a) for a in spec.addresses]
        else:
            own = spec.host.strip("[]") if is_ip_literal(spec.host) else ""
            addresses = [(own, None)]
        for address, explicit in addresses:
            endpoint = Endpoint(spec.host, spec.port, address, spec.server_name, spec.protocol)
            template = Observation(endpoint=endpoint, observed_at=now, status="error")
            expected.append((_entry_label(entry, explicit), template))
    return expected


def merged_shards(
    settings: Settings, observations: list[Observation], clock: Callable[[], datetime]
) -> list[Observation]:
    """Observations from several scanners made fit to plan with: a shard that delivered
    nothing is reported by name and its endpoints are unobserved; so is anything stale."""
    try:
        count, seen = shards_seen(observations)
    except ShardError as exc:
        raise ConfigError(f"--observations: {exc}") from None
    now = clock()
    missing = missing_shards(count, seen)
    if missing and count is not None:
        log.warning(
            "shard(s) %s delivered no observations: their endpoints are unobserved",
            ", ".join(missing),
        )
        known = {observation.endpoint for observation in observations}
        standins = unobserved_in_missing_shards(_expected(settings, now), missing, count)
        observations = [*observations, *(o for o in standins if o.endpoint not in known)]
    max_age = timedelta(hours=settings.policy.max_observation_age_hours)
    return stale_as_unobserved(observations, now, max_age)
