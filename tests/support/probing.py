"""Both ways the scanner probes one endpoint, for tests that must hold for each of them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from ticketbridge.core.model import Endpoint, Observation, Verifier
from ticketbridge.discovery.tls import ProbeOptions, probe, probe_all

ProbeOne = Callable[..., Coroutine[Any, Any, Observation]]


async def probe_among_many(
    endpoint: Endpoint, options: ProbeOptions, verifier: Verifier | None = None
) -> Observation:
    """The endpoint probed as a scan probes it: through `probe_all`, whose direct handshakes
    (discovery/handshakes.py) take every TLS endpoint at an address literal."""
    observations = [o async for o in probe_all([endpoint], options, 4, verifier)]
    assert len(observations) == 1
    return observations[0]


PROBE_PATHS = pytest.mark.parametrize(
    "probe_with", [probe, probe_among_many], ids=["alone", "among-many"]
)
