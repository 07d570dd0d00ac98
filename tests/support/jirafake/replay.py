"""The contract replay: every request a test module makes to a JiraFake, held to contract.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import JiraFake

__all__ = ["every_request_keeps_the_contract"]


@pytest.fixture(autouse=True)
def every_request_keeps_the_contract() -> Iterator[None]:
    """Replay: each request of this suite (both flavours, faults included) against contract.py.

    A request shape without a cited row in the table fails here, so no new call reaches CI
    without its vendor contract written down.
    """
    JiraFake.started.clear()
    yield
    broken = [
        problem
        for fake in JiraFake.started
        for record in fake.requests_log
        for problem in record.contract_violations()
    ]
    JiraFake.started.clear()
    assert broken == [], broken
