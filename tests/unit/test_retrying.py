"""The retry policy and the pacer, with a fake clock: what is retried, how long, and when not."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ticketbridge.infra.retrying import (
    Failure,
    Pacer,
    Retrier,
    RetryPolicy,
    Safety,
    parse_retry_after,
)

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


class Boom(Exception):
    def __init__(self, failure: Failure | None) -> None:
        super().__init__(str(failure))
        self.failure = failure


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def retrier(clock: Clock, **policy: float) -> Retrier:
    return Retrier(
        RetryPolicy(**policy),  # type: ignore[arg-type]
        lambda exc: exc.failure if isinstance(exc, Boom) else None,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(1),
    )


def failing(*failures: Failure | None, result: str = "ok") -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise Boom(failures[len(calls) - 1])
        return result

    return calls, attempt


TRANSIENT = Failure(retryable=True)
NOT_SENT = Failure(retryable=True, delivered=False)


@pytest.mark.parametrize("safety", [Safety.READ, Safety.IDEMPOTENT])
def test_reads_and_idempotent_writes_retry_transient_failures(safety: Safety) -> None:
    clock = Clock()
    calls, attempt = failing(TRANSIENT, TRANSIENT)
    assert retrier(clock).call(attempt, safety=safety) == "ok"
    assert len(calls) == 3 and len(clock.sleeps) == 2


def test_permanent_failures_are_not_retried() -> None:
    clock = Clock()
    calls, attempt = failing(Failure(retryable=False))
    with pytest.raises(Boom):
        retrier(clock).call(attempt, safety=Safety.READ)
    assert len(calls) == 1 and clock.sleeps == []


def test_unsafe_write_is_not_resent_after_a_possibly_delivered_failure() -> None:
    calls, attempt = failing(TRANSIENT)
    with pytest.raises(Boom):
        retrier(Clock()).call(attempt, safety=Safety.UNSAFE)
    assert len(calls) == 1


def test_unsafe_write_is_resent_when_it_never_left() -> None:
    calls, attempt = failing(NOT_SENT)
    assert retrier(Clock()).call(attempt, safety=Safety.UNSAFE) == "ok"
    assert len(calls) == 2


def test_unsafe_write_verifies_before_resending() -> None:
    calls, attempt = failing(TRANSIENT)
    verified: list[int] = []

    def verify() -> str | None:
        verified.append(1)
        return "found"

    result = retrier(Clock()).call(attempt, safety=Safety.UNSAFE, verify=verify)
    assert result == "found" and len(calls) == 1 and len(verified) == 1


def test_unsafe_write_is_resent_when_verify_finds_no_trace() -> None:
    calls, attempt = failing(TRANSIENT)
    result: str = retrier(Clock()).call(attempt, safety=Safety.UNSAFE, verify=lambda: None)
    assert result == "ok" and len(calls) == 2


def test_attempts_are_bounded() -> None:
    calls, attempt = failing(*[TRANSIENT] * 10)
    with pytest.raises(Boom):
        retrier(Clock(), max_attempts=4).call(attempt, safety=Safety.READ)
    assert len(calls) == 4


def test_total_time_is_bounded() -> None:
    clock = Clock()
    calls, attempt = failing(*[Failure(True, retry_after=10)] * 10)
    with pytest.raises(Boom):
        retrier(clock, max_attempts=100, max_elapsed=35).call(attempt, safety=Safety.READ)
    assert sum(clock.sleeps) <= 35
    assert len(calls) == 4


def test_retry_after_is_honoured_and_backoff_grows_with_jitter() -> None:
    clock = Clock()
    _, attempt = failing(Failure(True, retry_after=9), TRANSIENT, TRANSIENT, TRANSIENT)
    retrier(clock, base_delay=1, max_delay=100).call(attempt, safety=Safety.READ)
    assert 9 <= clock.sleeps[0] <= 9.9
    for number, pause in enumerate(clock.sleeps[1:], start=2):
        ceiling = 2 ** (number - 1)
        assert ceiling / 2 <= pause <= ceiling


def test_a_longer_pause_than_allowed_gives_up_at_once() -> None:
    clock = Clock()
    calls, attempt = failing(Failure(True, retry_after=600))
    with pytest.raises(Boom):
        retrier(clock, max_retry_after=60).call(attempt, safety=Safety.READ)
    assert clock.sleeps == [] and len(calls) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": "Thu, 26 Nov 2026 21:30:30 GMT"}, 30.0),
        ({"Retry-After": "Thu, 26 Nov 2026 21:00:00 GMT"}, 0.0),
        ({"X-RateLimit-Reset": "2026-11-26T21:31:00.000Z"}, 60.0),
        ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 12)}, 12.0),
        ({"Retry-After": "5", "X-RateLimit-Reset": "2026-11-26T21:30:20Z"}, 20.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, NOW) == expected


def test_pacer_is_a_token_bucket() -> None:
    clock = Clock()
    pacer = Pacer(4, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        pacer.acquire()
    # Two at once, then one every quarter second.
    assert sum(clock.sleeps) == pytest.approx(8 * 0.25)
    clock.now += timedelta(seconds=10)
    pacer.acquire()
    pacer.acquire()
    assert sum(clock.sleeps) == pytest.approx(8 * 0.25)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


class Huge(Boom):
    """A failure whose text is a server's whole HTML error page, escapes and all."""

    def __str__(self) -> str:
        return "HTTP 502: " + "<html>\r\n\x1b[31mBad Gateway\x1b[0m\r\n" * 50_000


def test_a_retry_warning_is_one_short_line(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise Huge(TRANSIENT)
        return "ok"

    with caplog.at_level("WARNING", logger="ticketbridge.infra.retrying"):
        assert retrier(clock).call(attempt, safety=Safety.READ) == "ok"
    (record,) = caplog.records
    message = record.getMessage()
    assert "HTTP 502" in message and "attempt 2 of 6" in message
    assert "\n" not in message and "\x1b" not in message
    assert len(message) < 400
