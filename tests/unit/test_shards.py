"""The pure shard rules: SPEC's formula, `K/N` parsing, stale and missing observations."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from ticketbridge.core.model import Endpoint, ErrorKind, Observation, ProbeError, Scanner
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

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


def seen_at(
    when: datetime, shard: str | None = "0/2", host: str = "app.example.com"
) -> Observation:
    return Observation(
        endpoint=Endpoint(host, 443, "192.0.2.10", host),
        observed_at=when,
        status="error",
        error=ProbeError(ErrorKind.REFUSED, "refused"),
        scanner=Scanner("scanner-a", shard) if shard is not None else None,
    )


def test_the_formula_is_specs_to_the_digit() -> None:
    label = "app.example.com:443@192.0.2.10"
    expected = int(hashlib.sha256(label.encode()).hexdigest()[:8], 16)
    assert [shard_of(label, n) for n in (1, 2, 3, 7)] == [expected % n for n in (1, 2, 3, 7)]
    # Pinned: a change of formula would strand every deployed scanner's assignment.
    assert shard_of("app.example.com:443", 4) == 2
    assert shard_of("app.example.com:443@192.0.2.10", 4) == 1


def test_labels_with_and_without_an_explicit_address() -> None:
    assert shard_label("app.example.com", 443, "192.0.2.10") == "app.example.com:443@192.0.2.10"
    assert shard_label("app.example.com", 8443, None) == "app.example.com:8443"
    assert shard_label("app.example.com", 443, "") == "app.example.com:443"


@pytest.mark.parametrize(("text", "parsed"), [("0/1", (0, 1)), ("3/4", (3, 4)), (" 1/2 ", (1, 2))])
def test_parse_shard(text: str, parsed: tuple[int, int]) -> None:
    assert parse_shard(text) == parsed


@pytest.mark.parametrize("text", ["4/4", "0/0", "1", "a/2", "-1/2", "1/", "/2", "1/2/3"])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ShardError):
        parse_shard(text)


def test_an_observation_older_than_the_limit_is_unobserved() -> None:
    limit = timedelta(hours=24)
    fresh = seen_at(NOW - limit)
    old = seen_at(NOW - limit - timedelta(seconds=1))
    kept, aged = stale_as_unobserved([fresh, old], NOW, limit)
    assert kept is fresh
    assert aged.status == "error" and aged.certificate is None
    assert aged.error == ProbeError(
        ErrorKind.STALE,
        "observed 2026-11-25T21:29:59Z by scanner-a, shard 0/2, more than 24 h ago",
    )
    assert aged.endpoint == old.endpoint and aged.scanner == old.scanner


def test_a_stale_observation_without_a_scanner_says_so_plainly() -> None:
    (aged,) = stale_as_unobserved(
        [seen_at(NOW - timedelta(days=3), None)], NOW, timedelta(hours=1.5)
    )
    assert aged.error is not None
    assert aged.error.message == "observed 2026-11-23T21:30:00Z, more than 1.5 h ago"


def test_shards_seen_and_missing() -> None:
    observations = [seen_at(NOW, "0/4"), seen_at(NOW, "2/4"), seen_at(NOW, None)]
    assert shards_seen(observations) == (4, {0, 2})
    assert missing_shards(4, {0, 2}) == ["1/4", "3/4"]
    assert shards_seen([seen_at(NOW, None)]) == (None, set())
    assert missing_shards(None, set()) == []


def test_shards_of_different_counts_cannot_merge() -> None:
    with pytest.raises(ShardError, match=r"different shard counts \(2, 3\)"):
        shards_seen([seen_at(NOW, "0/2"), seen_at(NOW, "1/3")])


def test_endpoints_of_a_missing_shard_become_unobserved() -> None:
    labels = [f"h{i}.example.com:443" for i in range(20)]
    templates = [
        (label, Observation(Endpoint(label[:-4], 443, "", label[:-4]), NOW, "error"))
        for label in labels
    ]
    standins = unobserved_in_missing_shards(templates, ["1/3"], 3)
    assert {o.endpoint.host for o in standins} == {
        label[:-4] for label in labels if shard_of(label, 3) == 1
    }
    assert standins and all(
        o.error == ProbeError(ErrorKind.MISSING, "shard 1/3 delivered no observations")
        for o in standins
    )
