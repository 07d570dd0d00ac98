"""A slow search index never causes a duplicate (issue 14): runs in a row against the local Jira
with a 60 s search lag and lost create answers, on simulated time, over many seeds.

The fake's lag follows the vendor (contract.BEHAVIOURS["INDEX_LAG"]): a write stays invisible to
search for `search_lag_seconds` by the fake's clock unless named in Cloud's `reconcileIssues`;
a read by key is current. Create answers are lost by dropping the connection after the issue
was filed (faults.py, when="after"), the case that makes a naive client file twice.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from support.builders import NOW, cert_id, served
from support.jirafake import JiraFake
from support.jirafake.faults import FaultRule
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from ticketbridge.app.config import load_settings
from ticketbridge.app.run import RunOutcome, reconcile
from ticketbridge.app.wiring import jira_options
from ticketbridge.audit.intents import unsettled_intents
from ticketbridge.core.model import Observation, marker_label
from ticketbridge.infra.retrying import RetryPolicy
from ticketbridge.tickets.jira.system import JiraTicketSystem

LAG = 60.0
NAMES = [[f"app{n}.example.com"] for n in range(3)]


class SimClock:
    """Simulated UTC time: the adapter's sleeps (pacing, retries, settling) advance it."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def observations(at: dt.datetime) -> list[Observation]:
    expiry = NOW + dt.timedelta(days=5)
    return [
        replace(served(names[0], "192.0.2.10", names, expiry), observed_at=at) for names in NAMES
    ]


class World:
    """One local Jira, one config, one audit trail, on one simulated clock."""

    def __init__(self, fake: JiraFake, tmp_path: Path, clock: SimClock) -> None:
        self.fake, self.clock = fake, clock
        self.config = tmp_path / "ticketbridge.toml"
        self.config.write_text(
            '[tickets]\nbackend = "jira"\n'
            f'[jira]\nurl = "{fake.url}"\nproject = "OPS"\nemail = "{fake.email}"\n'
            f'deployment = "{fake.flavour}"\nrequests_per_second = 1000\ntimeout = 5\n'
            f"index_lag_seconds = {5 * LAG}\n"
            f'[audit]\nlog_path = "{tmp_path / "audit.jsonl"}"\n'
        )
        self.audit = tmp_path / "audit.jsonl"
        self.settings = load_settings(self.config, environ={"TICKETBRIDGE_JIRA__TOKEN": fake.token})

    def run(self) -> RunOutcome:
        clock = self.clock
        policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_elapsed=60.0)
        system = JiraTicketSystem(
            jira_options(self.settings.jira), clock=clock, sleep=clock.sleep, retry_policy=policy
        )
        with system:
            return reconcile(
                self.settings,
                self.config,
                observations(clock()),
                dry_run=False,
                force=True,
                max_changes=None,
                now=clock,
                tickets=system,
                clock=clock,
            )

    def tickets_per_certificate(self) -> dict[str, list[str]]:
        return {
            cid: [i.key for i in self.fake.state.issues.values() if marker_label(cid) in i.labels]
            for cid in (cert_id(names) for names in NAMES)
        }


@pytest.fixture(params=["cloud", "datacenter"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    clock = SimClock(NOW)
    with JiraFake(flavour=request.param, search_lag_seconds=LAG, clock=clock) as fake:
        yield World(fake, tmp_path, clock)


def test_three_runs_in_a_row_with_a_60s_lag_file_one_ticket_each(world: World) -> None:
    """Today's main filed four tickets for one certificate in three runs, each exiting 0."""
    for _ in range(3):
        outcome = world.run()
        assert outcome.report is not None and outcome.report.ok
        world.clock.sleep(10)  # the next scheduled run, well inside the index's lag
    assert all(len(keys) == 1 for keys in world.tickets_per_certificate().values())


def test_a_lost_create_answer_is_never_sent_again_in_the_run(world: World) -> None:
    world.fake.faults.add(FaultRule(effect="drop", method="POST", path=r"/issue$", when="after"))
    outcome = world.run()
    assert outcome.report is not None and not outcome.report.ok  # the run exits 1
    creates = [
        r for r in world.fake.requests_log if r.method == "POST" and r.path.endswith("/issue")
    ]
    assert len(creates) == len(NAMES)  # one each: the lost one was not sent again
    assert all(len(keys) == 1 for keys in world.tickets_per_certificate().values())
    # The lost one stays an open intent, for the next run to settle.
    assert [i.data["operation"] for i in unsettled_intents(world.audit)] == ["create"]


def test_an_open_intent_younger_than_the_lag_holds_the_create_then_settles(world: World) -> None:
    rule = world.fake.faults.add(
        FaultRule(effect="drop", method="POST", path=r"/issue$", when="before")
    )
    world.run()  # the create never landed, but the client cannot know that
    assert rule.fired == 1
    held = world.run()  # 0 s later: the search cannot rule the ticket out yet
    assert held.report is not None and not held.report.ok
    assert any("not created" in (r.error or "") for r in held.report.results)
    world.clock.sleep(5 * LAG + 1)  # past jira.index_lag_seconds: the marker search is trusted
    settled = world.run()
    assert settled.report is not None and settled.report.ok
    assert all(len(keys) == 1 for keys in world.tickets_per_certificate().values())
    assert unsettled_intents(world.audit) == []


def test_a_429_on_a_create_waits_and_resends_without_marker_searches(world: World) -> None:
    world.fake.faults.add(
        FaultRule(effect=429, method="POST", path=r"/issue$", retry_after=7, times=1)
    )
    started = world.clock()
    outcome = world.run()
    assert outcome.report is not None and outcome.report.ok
    log = world.fake.requests_log
    refused = next(n for n, r in enumerate(log) if r.status == 429)
    after = log[refused + 1]
    assert after.method == "POST" and after.path.endswith("/issue")  # no search in between
    assert world.clock() - started >= dt.timedelta(seconds=7)  # Retry-After was honoured
    assert all(len(keys) == 1 for keys in world.tickets_per_certificate().values())


@pytest.mark.parametrize("seed", range(12))
def test_many_runs_with_lost_answers_and_a_lagging_index_never_duplicate(
    world: World, seed: int
) -> None:
    rng = random.Random(seed)
    world.fake.faults.reseed(seed)
    # Every seed loses at least its first create answer; the rest at random.
    losses: list[tuple[int | str, str]] = [("drop", "after"), ("drop", "before"), (503, "after")]
    first = rng.choice(losses)
    world.fake.faults.add(
        FaultRule(effect=first[0], method="POST", path=r"/issue$", when=first[1], retry_after=0)
    )
    for effect, when in (("drop", "after"), ("drop", "before"), (503, "after")):
        world.fake.faults.add(
            FaultRule(
                effect=effect,
                method="POST",
                path=r"/issue$",
                when=when,
                probability=0.25,
                times=None,
                retry_after=0,
            )
        )
    for _ in range(8):
        world.run()
        assert all(len(keys) <= 1 for keys in world.tickets_per_certificate().values())
        world.clock.sleep(rng.choice([0, 5, 30, 59, 61, 120, 400]))
    assert world.fake.faults.injected  # the seed did lose answers
    world.fake.faults.clear()
    world.clock.sleep(5 * LAG + 1)
    for _ in range(2):
        final = world.run()
        world.clock.sleep(5)
    assert final.report is not None and final.report.ok
    assert all(len(keys) == 1 for keys in world.tickets_per_certificate().values())
