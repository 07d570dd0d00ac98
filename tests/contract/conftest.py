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
import os
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

# Opt-in: the same suite against a real Jira site (README, "Proving ticketbridge against your
# own Jira"). Use a scratch project: the suite creates, edits and transitions tickets, then
# deletes every ticket it labelled.
LIVE = ("URL", "PROJECT", "EMAIL", "TOKEN")
LIVE_LABEL = "ticketbridge-live-test"


@backend("jira-live")
@contextmanager
def jira_live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketSystem]:
    found = {name: os.environ.get(f"TICKETBRIDGE_LIVE_JIRA_{name}", "") for name in LIVE}
    if not (found["URL"] and found["PROJECT"] and found["TOKEN"]):
        pytest.skip("set TICKETBRIDGE_LIVE_JIRA_URL, _PROJECT, _EMAIL (Cloud) and _TOKEN")
    options = JiraOptions(
        url=found["URL"],
        project=found["PROJECT"],
        email=found["EMAIL"],
        token=found["TOKEN"],
        labels=("ticketbridge", LIVE_LABEL),
    )
    with JiraTicketSystem(options) as system:
        try:
            yield system
        finally:
            _delete_labelled(system, found["PROJECT"])


def _delete_labelled(system: JiraTicketSystem, project: str) -> None:
    from ticketbridge.infra.retrying import Safety
    from ticketbridge.tickets.jira.jql import jql_quote
    from ticketbridge.tickets.jira.search import search_issues

    query = f"project = {jql_quote(project)} AND labels = {jql_quote(LIVE_LABEL)}"
    for issue in search_issues(system.api, query):
        system.api.call(
            "DELETE", f"issue/{issue['key']}", safety=Safety.IDEMPOTENT, what="clean up"
        )


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
