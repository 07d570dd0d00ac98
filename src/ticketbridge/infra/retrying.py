"""The one retry policy (tenacity): what may be retried, how long to wait, when to give up; pacing."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Generic, TypeVar

from tenacity import RetryCallState, Retrying

from ticketbridge.infra.clock import utcnow
from ticketbridge.infra.scrub import outside_detail

__all__ = [
    "Failure",
    "Pacer",
    "Retrier",
    "RetryPolicy",
    "Safety",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


class Safety(StrEnum):
    """How safe a request is to send twice: the policy's only question about a request.

    READ: a GET or a search; sending it again changes nothing.
    IDEMPOTENT: a write that sets absolute values (a PUT of fields, a property, a label `add`);
    the second copy leaves the same state as the first.
    UNSAFE: a write whose second copy is a second effect: a create, a comment, a transition.
    It is re-sent only when the failure proves the first copy never reached the server, or
    after a `verify` step has looked and found no trace of it.
    """

    READ = "read"
    IDEMPOTENT = "idempotent"
    UNSAFE = "unsafe"


@dataclass(frozen=True, slots=True)
class Failure:
    """What the policy needs to know about one failed attempt; adapters classify their errors.

    `delivered` is False only when the request provably never reached the server (connection
    refused, connect timeout); any answer, timeout after sending or dropped connection may
    have been applied. `retry_after` is the wait in seconds the server asked for.
    """

    retryable: bool
    delivered: bool = True
    retry_after: float | None = None


Classifier = Callable[[BaseException], Failure | None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds of the retry policy: attempts, total time, and the backoff curve."""

    max_attempts: int = 6
    max_elapsed: float = 120.0  # seconds from the first attempt; never sleep past it
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A server asking for a longer pause than this is not waited for: the run fails and the
    # next scheduled run tries again, rather than holding the run lock for many minutes.
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_elapsed, self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("retry delays must not be negative")


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) and `X-RateLimit-Reset`.

    `X-RateLimit-Reset` is an ISO 8601 instant on Jira Cloud; epoch seconds are accepted too.
    When both are present the later one wins: waiting less than either is asking for another 429.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    waits = [
        wait
        for wait in (
            _retry_after(lowered.get("retry-after"), now),
            _rate_limit_reset(lowered.get("x-ratelimit-reset"), now),
        )
        if wait is not None
    ]
    return max(waits) if waits else None


def _retry_after(value: str | None, now: datetime) -> float | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110: an HTTP date is always GMT
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def _rate_limit_reset(value: str | None, now: datetime) -> float | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        # Large numbers are epoch seconds (the GitHub convention); small ones a delay.
        seconds = number - now.timestamp() if number > 1e9 else number
        return max(0.0, seconds)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


class Retrier:
    """Runs one request under the policy, with tenacity; the clock and sleep are injectable."""

    def __init__(
        self,
        policy: RetryPolicy,
        classify: Classifier,
        *,
        clock: Clock = utcnow,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self._classify = classify
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    def call(
        self,
        attempt: Callable[[], T],
        *,
        safety: Safety,
        verify: Callable[[], T | None] | None = None,
        what: str = "request",
    ) -> T:
        """Run `attempt`, retrying what the policy allows; re-raise the last error otherwise.

        For an UNSAFE request that failed after it may have been delivered, `verify` runs
        before the next copy is sent: a non-None answer (what the lost attempt did) is
        returned instead of sending again. Without `verify`, such a failure is not retried.
        """
        call = _Call(self, attempt, safety, verify, what, started=self._clock())
        retrying = Retrying(
            sleep=self._sleep,
            stop=call.stop,
            wait=call.wait,
            retry=call.should_retry,
            before_sleep=call.before_sleep,
            reraise=True,
        )
        return retrying(call.one_try)

    def delay(self, attempt_number: int, failure: Failure | None) -> float:
        """The pause before attempt `attempt_number + 1`.

        The server's own figure when it gave one (plus up to 10% so that a fleet of clients
        does not return in the same instant), else exponential backoff with full jitter.
        """
        if failure is not None and failure.retry_after is not None:
            asked = min(failure.retry_after, self.policy.max_retry_after)
            return asked + self._rng.uniform(0, 0.1 * asked)
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2 ** (attempt_number - 1))
        return self._rng.uniform(ceiling / 2, ceiling)


class Pacer:
    """Client-side pacing: a token bucket of `rate` requests per second, `burst` at most at once."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Clock = utcnow,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated: datetime | None = None
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the time slept."""
        with self._lock:
            now = self._clock()
            if self._updated is not None:
                elapsed = max(0.0, (now - self._updated).total_seconds())
                self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            wait = (1 - self._tokens) / self.rate
            self._sleep(wait)
            self._tokens = 0.0
            self._updated = self._clock()
            return wait


class _Call(Generic[T]):
    """One `Retrier.call`: what tenacity asks between attempts, answered by the policy."""

    def __init__(
        self,
        retrier: Retrier,
        attempt: Callable[[], T],
        safety: Safety,
        verify: Callable[[], T | None] | None,
        what: str,
        *,
        started: datetime,
    ) -> None:
        self.retrier = retrier
        self.attempt = attempt
        self.safety = safety
        self.verify = verify
        self.what = what
        self.started = started
        # Set once an UNSAFE attempt failed after it may have been delivered.
        self.verify_first = False

    def one_try(self) -> T:
        if self.verify_first and self.verify is not None:
            found = self.verify()
            if found is not None:
                log.info("%s: the earlier attempt had been applied; not sending again", self.what)
                return found
        try:
            return self.attempt()
        except BaseException as exc:
            failure = self.retrier._classify(exc)
            if failure is not None and failure.delivered and self.safety is Safety.UNSAFE:
                self.verify_first = True
            raise

    def _failure(self, state: RetryCallState) -> Failure | None:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return None
        return self.retrier._classify(outcome.exception())  # type: ignore[arg-type]

    def should_retry(self, state: RetryCallState) -> bool:
        failure = self._failure(state)
        if failure is None or not failure.retryable:
            return False
        if self.safety is Safety.UNSAFE and failure.delivered:
            return self.verify is not None
        return True

    def wait(self, state: RetryCallState) -> float:
        return self.retrier.delay(state.attempt_number, self._failure(state))

    def stop(self, state: RetryCallState) -> bool:
        policy = self.retrier.policy
        if state.attempt_number >= policy.max_attempts:
            return True
        failure = self._failure(state)
        if failure is not None and (failure.retry_after or 0) > policy.max_retry_after:
            return True
        elapsed = (self.retrier._clock() - self.started).total_seconds()
        return elapsed + (state.upcoming_sleep or 0.0) > policy.max_elapsed

    def before_sleep(self, state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        # The error may quote a server (a whole HTML page): one short inert line of it.
        log.warning(
            "%s failed (%s); attempt %d of %d in %.1fs",
            self.what,
            outside_detail(str(error), 300),
            state.attempt_number + 1,
            self.retrier.policy.max_attempts,
            state.upcoming_sleep,
        )
