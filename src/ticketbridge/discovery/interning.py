"""Observations read from `--observations` files, pointed back at one object per distinct value.

The files are read line by line, and every line brings its own copy of the facts, verdicts and
timestamps that thousands of others share. An in-process scan shares them (certificate facts
are parsed once per DER), and the workers' messages arrive shared (`wire.py`); this makes the
copies read from files do the same. Values are matched by equality (all of them are frozen),
so nothing read from a hand-edited file is ever replaced by a different value with the same
fingerprint.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from ticketbridge.core.model import Endpoint, Observation

T = TypeVar("T")


class ObservationInterner:
    """Shares equal values between the observations passed through it."""

    def __init__(self) -> None:
        # Endpoints apart from the other values: equal endpoints may differ in `source`, which
        # their equality ignores, and the first one read is the one kept.
        self._endpoints: dict[Endpoint, Endpoint] = {}
        self._shared: dict[object, object] = {}

    def _share(self, value: T) -> T:
        return self._shared.setdefault(value, value)  # type: ignore[return-value]

    def observation(self, observation: Observation) -> Observation:
        chain = tuple(map(self._share, observation.chain))
        return replace(
            observation,
            endpoint=self._endpoints.setdefault(observation.endpoint, observation.endpoint),
            observed_at=self._share(observation.observed_at),
            error=self._share(observation.error),
            certificate=chain[0] if chain else self._share(observation.certificate),
            chain=chain,
            effective_not_after=self._share(observation.effective_not_after),
            verification=self._share(observation.verification),
            validated_path_not_after=self._share(observation.validated_path_not_after),
            strays=tuple(map(self._share, observation.strays)),
            hsts=self._share(observation.hsts),  # one web server's policy, on many endpoints
            scanner=self._share(observation.scanner),  # one per shard
        )
