"""Shards (SPEC "Shards"): which shard an endpoint belongs to, stale and missing observations."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from ticketbridge.core.model import ErrorKind, Observation, ProbeError
from ticketbridge.core.timefmt import iso_z


class ShardError(ValueError):
    """A `K/N` that is not one: the message says what is wrong with it."""


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` as (K, N), with 0 <= K < N."""
    index, slash, count = text.strip().partition("/")
    if not slash or not index.isdigit() or not count.isdigit():
        raise ShardError(f"{text!r} is not K/N (e.g. 0/4)")
    k, n = int(index), int(count)
    if n < 1 or k >= n:
        raise ShardError(f"{text!r}: need 0 <= K < N")
    return k, n


def shard_label(host: str, port: int, address: str | None) -> str:
    """`host:port@address` for an endpoint with an explicit address, else `host:port`."""
    return f"{host}:{port}@{address}" if address else f"{host}:{port}"


def shard_of(label: str, count: int) -> int:
    """SPEC's formula: the first 8 hex digits of the label's SHA-256, modulo the shard count."""
    return int(hashlib.sha256(label.encode()).hexdigest()[:8], 16) % count


def _scanned_by(observation: Observation) -> str:
    scanner = observation.scanner
    if scanner is None:
        return ""
    shard = f", shard {scanner.shard}" if scanner.shard else ""
    return f" by {scanner.host}{shard}"


def stale_as_unobserved(
    observations: Iterable[Observation], now: datetime, max_age: timedelta
) -> list[Observation]:
    """Observations older than `max_age` become failed probes: what a scanner saw a while ago
    must never resolve a ticket or move a due date later (SPEC)."""
    oldest = now - max_age
    fresh = []
    for observation in observations:
        if observation.observed_at >= oldest:
            fresh.append(observation)
            continue
        hours = max_age.total_seconds() / 3600
        message = (
            f"observed {iso_z(observation.observed_at)}{_scanned_by(observation)}, "
            f"more than {hours:g} h ago"
        )
        fresh.append(
            replace(
                observation,
                status="error",
                error=ProbeError(ErrorKind.STALE, message),
                certificate=None,
                chain=(),
                effective_not_after=None,
                verification=None,
            )
        )
    return fresh


def shards_seen(observations: Iterable[Observation]) -> tuple[int | None, set[int]]:
    """The shard count the observations were made with (None: unsharded) and the shards seen.

    Observations made with different shard counts cannot be merged: ShardError.
    """
    counts: set[int] = set()
    seen: set[int] = set()
    for observation in observations:
        scanner = observation.scanner
        if scanner is None or not scanner.shard:
            continue
        k, n = parse_shard(scanner.shard)
        counts.add(n)
        seen.add(k)
    if len(counts) > 1:
        listed = ", ".join(str(n) for n in sorted(counts))
        raise ShardError(f"observations come from different shard counts ({listed})")
    return (counts.pop() if counts else None), seen


def missing_shards(count: int | None, seen: set[int], owning: set[int] | None = None) -> list[str]:
    """`K/N` of every shard that delivered nothing — of those with something to deliver
    (`owning`, when known): a shard the configuration gives no endpoint writes an empty file."""
    if count is None:
        return []
    return [
        f"{k}/{count}" for k in range(count) if k not in seen and (owning is None or k in owning)
    ]


def unobserved_in_missing_shards(
    expected: Sequence[tuple[str, Observation]], missing: Sequence[str], count: int
) -> list[Observation]:
    """Failed probes standing in for the endpoints of shards that delivered nothing.

    `expected` pairs each configured endpoint's shard label with an observation template
    (its endpoint, `observed_at` = now); only those whose shard is missing are returned.
    """
    lost = {parse_shard(text)[0] for text in missing}
    found = []
    for label, template in expected:
        k = shard_of(label, count)
        if k in lost:
            error = ProbeError(ErrorKind.MISSING, f"shard {k}/{count} delivered no observations")
            found.append(replace(template, status="error", error=error))
    return found
