"""Backends for the TicketSystem contract suite: one factory per backend, registered by name.

To put another backend under contract (the Jira adapter against the Jira-compatible test
server), register one more factory here:

    @backend("jira-cloud")
    @contextmanager
    def jira_cloud(request, tmp_path):
        server = request.getfixturevalue("jira_server")
        yield JiraTicketSystem(...)

Factories receive the pytest request (for other fixtures) and a fresh tmp_path, and yield a
ready TicketSystem; whatever follows the yield is teardown.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from support.jirafake import JiraFake
from ticketbridge.core.ports import TicketSystem
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import JiraTicketSystem
from ticketbridge.tickets.local import LocalTicketStore

BackendFactory = Callable[[pytest.FixtureRequest, Path], AbstractContextManager[TicketSystem]]
BACKENDS: dict[str, BackendFactory] = {}


def backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    def register(factory: BackendFactory) -> BackendFactory:
        if name in BACKENDS:
            raise ValueError(f"backend {name!r} registered twice")
        BACKENDS[name] = factory
        return factory

    return register


@backend("local")
@contextmanager
def local_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketSystem]:
    yield LocalTicketStore(tmp_path / "tickets.db")


def _jira(flavour: str) -> BackendFactory:
    @contextmanager
    def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketSystem]:
        with JiraFake(flavour=flavour) as server:
            settings = JiraOptions(
                url=server.url,
                project="OPS",
                email=server.email,
                token=server.token,
                requests_per_second=1000,
            )
            # No real sleeping: the fake answers at once, and retries must not slow the suite.
            with JiraTicketSystem(settings, sleep=lambda seconds: None) as system:
                yield system

    return factory


# The Jira adapter against the Jira-compatible test server, one flavour each.
backend("jira-cloud")(_jira("cloud"))
backend("jira-datacenter")(_jira("datacenter"))


# The in-memory fake is written alongside this suite. Only its absence is tolerated: a
# testing module that exists but fails to import must fail the run, not vanish from it.
if importlib.util.find_spec("ticketbridge.testing") is not None:
    _testing = importlib.import_module("ticketbridge.testing")
    if hasattr(_testing, "InMemoryTicketSystem"):

        @backend("memory")
        @contextmanager
        def in_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketSystem]:
            yield _testing.InMemoryTicketSystem()


@pytest.fixture(params=sorted(BACKENDS))
def ticket_system(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketSystem]:
    with BACKENDS[request.param](request, tmp_path) as system:
        yield system
