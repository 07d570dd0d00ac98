"""Deterministic fault injection for the fake Jira: rules chosen by method, path and call count.

A fault fires either BEFORE the request is applied (nothing changed, the client sees an error) or
AFTER it is applied (the state changed, yet the client sees an error). The second is the case
that makes a naive client re-send a create and file a duplicate, so tests need it on demand.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import format_datetime

__all__ = ["Effect", "FaultRule", "Faults", "InjectedFault"]

# An HTTP status to answer with (429, 503, 500, ...), "drop" (close the socket without a
# response) or "timeout" (stall for `delay` seconds, then drop).
Effect = int | str
WRITE_METHODS = ("POST", "PUT", "DELETE")


@dataclass
class FaultRule:
    """Select requests and say what goes wrong with them.

    `method` is an HTTP method or "*"; `path` a regex searched in the URL path (query excluded).
    `nth` fires only on the nth matching request (1-based); `times` caps how often the rule fires
    (None: unlimited); `probability` draws from the fake's seeded RNG. For 429/503 answers,
    `retry_after` is sent as `Retry-After` (seconds, or a datetime rendered as an HTTP-date) and
    `rate_limit_reset` as `X-RateLimit-Reset` (ISO 8601).
    """

    effect: Effect
    method: str = "*"
    path: str = ".*"
    when: str = "before"
    nth: int | None = None
    times: int | None = 1
    probability: float = 1.0
    retry_after: int | float | str | dt.datetime | None = None
    rate_limit_reset: dt.datetime | str | None = None
    delay: float = 0.0
    # A hostile answer instead of Jira's error shape: these bytes, with `effect` as the status.
    body: bytes | None = None
    matched: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', not {self.when!r}")
        if isinstance(self.effect, str) and self.effect not in ("drop", "timeout"):
            raise ValueError(f"unknown effect {self.effect!r}")
        if self.effect == 429 and self.when == "after":
            # A 429 is a refusal: nothing was applied (contract.BEHAVIOURS["RATE_LIMIT"]).
            raise ValueError("a 429 is never applied: when must be 'before'")
        if self.effect == 429 and self.retry_after is None and self.rate_limit_reset is None:
            self.retry_after = 1
        self._path = re.compile(self.path)

    def selects(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and bool(
            self._path.search(path)
        )

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if isinstance(self.retry_after, dt.datetime):
            headers["Retry-After"] = format_datetime(
                self.retry_after.astimezone(dt.UTC), usegmt=True
            )
        elif self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if isinstance(self.rate_limit_reset, dt.datetime):
            reset = self.rate_limit_reset.astimezone(dt.UTC)
            headers["X-RateLimit-Reset"] = reset.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        elif self.rate_limit_reset is not None:
            headers["X-RateLimit-Reset"] = self.rate_limit_reset
        if self.effect == 429:
            headers.setdefault("X-RateLimit-Limit", "100")
            headers["X-RateLimit-Remaining"] = "0"
            headers["RateLimit-Reason"] = "jira-burst-based"
        return headers


@dataclass(frozen=True)
class InjectedFault:
    """One fault that fired, for test assertions and failure messages."""

    method: str
    path: str
    effect: Effect
    when: str
    rule: FaultRule | None


class Faults:
    """The rule list plus an optional global fault rate, all drawn from one seeded RNG."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        self.injected: list[InjectedFault] = []
        self.fault_rate = 0.0
        self.rate_effects: tuple[Effect, ...] = (429, 503, 500, "drop")
        self.rate_when: tuple[str, ...] = ("before", "after")
        self.rate_methods: tuple[str, ...] = ("GET", *WRITE_METHODS)
        self.rate_retry_after: int | float | str | None = 0

    def add(self, rule: FaultRule | None = None, /, **kwargs: object) -> FaultRule:
        """Add a rule (or build one from keyword arguments) and return it."""
        if rule is None:
            rule = FaultRule(**kwargs)  # type: ignore[arg-type]
        self.rules.append(rule)
        return rule

    def set_rate(
        self,
        rate: float,
        *,
        effects: Iterable[Effect] | None = None,
        when: Iterable[str] | None = None,
        methods: Iterable[str] | None = None,
        retry_after: int | float | str | None = 0,
        seed: int | None = None,
    ) -> None:
        """Fail a `rate` share of matching requests at random (seeded), on top of the rules."""
        self.fault_rate = rate
        if effects is not None:
            self.rate_effects = tuple(effects)
        if when is not None:
            self.rate_when = tuple(when)
        if methods is not None:
            self.rate_methods = tuple(m.upper() for m in methods)
        self.rate_retry_after = retry_after
        if seed is not None:
            self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def clear(self) -> None:
        """Forget every rule, the global rate and the record of injected faults."""
        self.rules.clear()
        self.injected.clear()
        self.fault_rate = 0.0
        self.rng = random.Random(self.seed)

    def decide(self, method: str, path: str) -> InjectedFault | None:
        """The fault for this request, if any. Called once per request, in arrival order."""
        for rule in self.rules:
            if not rule.selects(method, path):
                continue
            rule.matched += 1
            if rule.nth is not None and rule.matched != rule.nth:
                continue
            if rule.times is not None and rule.fired >= rule.times:
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return self._record(InjectedFault(method, path, rule.effect, rule.when, rule))
        rated = self.fault_rate > 0 and method in self.rate_methods
        if rated and self.rng.random() < self.fault_rate:
            effect = self.rng.choice(self.rate_effects)
            when = self.rng.choice(self.rate_when)
            if effect == 429:
                when = "before"  # a refusal, never applied (contract.BEHAVIOURS["RATE_LIMIT"])
            return self._record(InjectedFault(method, path, effect, when, None))
        return None

    def _record(self, fault: InjectedFault) -> InjectedFault:
        self.injected.append(fault)
        return fault

    def headers_for(self, fault: InjectedFault) -> dict[str, str]:
        if fault.rule is not None:
            return fault.rule.headers()
        if fault.effect in (429, 503) and self.rate_retry_after is not None:
            return {"Retry-After": str(self.rate_retry_after)}
        return {}
