"""Acceptance: the incident, faults, crashes and a 5,000-ticket run against the local Jira."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from support.jirafake import JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from ticketbridge.core.apply import ApplyReport, apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import build_inventory
from ticketbridge.core.model import MARKER_LABEL, CertFacts, Endpoint, Observation, marker_label
from ticketbridge.core.policy import Policy
from ticketbridge.core.shapes import observations_jsonl
from ticketbridge.core.x509facts import tracked_id
from ticketbridge.errors import BackendError
from ticketbridge.testing import InMemoryPager
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import JiraTicketSystem

NOW = dt.datetime(2026, 11, 26, 21, 30, tzinfo=dt.UTC)
WILDCARD = ("*.example.com", "example.com")
WILDCARD_EXPIRY = dt.datetime(2026, 12, 5, 21, 44, 22, tzinfo=dt.UTC)
WWW_EXPIRY = dt.datetime(2027, 9, 22, 12, 0, tzinfo=dt.UTC)
POLICY = Policy()
FLAVOURS = ["cloud", "datacenter"]
REPO = Path(__file__).resolve().parents[2]


def cert_id(names: Sequence[str]) -> str:
    return tracked_id(sorted({name.lower() for name in names}))


def served(host: str, address: str, names: Sequence[str], not_after: dt.datetime) -> Observation:
    fingerprint = hashlib.sha256(f"{sorted(names)}|{not_after.isoformat()}".encode()).hexdigest()
    leaf = CertFacts(
        fingerprint_sha256=fingerprint,
        serial="01",
        subject=f"CN={names[0]}",
        issuer="CN=Test CA",
        names=tuple(names),
        not_before=not_after - dt.timedelta(days=90),
        not_after=not_after,
        common_name=names[0],
    )
    return Observation(
        endpoint=Endpoint(host=host, port=443, address=address, sni=host),
        observed_at=NOW,
        status="ok",
        certificate=leaf,
        chain=(leaf,),
        effective_not_after=not_after,
    )


def incident() -> list[Observation]:
    return [
        served("app.example.com", "192.0.2.10", WILDCARD, WILDCARD_EXPIRY),
        served("api.example.com", "192.0.2.11", WILDCARD, WILDCARD_EXPIRY),
        served("www.example.com", "192.0.2.20", ("www.example.com",), WWW_EXPIRY),
    ]


def fake_for(flavour: str, **kwargs: Any) -> JiraFake:
    return JiraFake(flavour=flavour, clock=lambda: NOW, **kwargs)


def backend(fake: JiraFake, **changes: Any) -> JiraTicketSystem:
    values: dict[str, Any] = {
        "url": fake.url,
        "project": "OPS",
        "email": fake.email,
        "token": fake.token,
        "requests_per_second": 1000,
    }
    values.update(changes)
    return JiraTicketSystem(JiraOptions(**values), clock=lambda: NOW, sleep=lambda s: None)


def run(system: JiraTicketSystem, observations: Sequence[Observation]) -> ApplyReport:
    """One reconcile through the library path: gather, decide, act."""
    decided = decide(build_inventory(observations), system.open_tickets(), POLICY, NOW)
    return apply_plan(decided, system, InMemoryPager())


def seed_incident(fake: JiraFake) -> str:
    # Hand-filed, with the due date copied from www (2027-09-22 minus 21 days).
    return fake.seed_issue(
        "Renew *.example.com", duedate=dt.date(2027, 9, 1), created=NOW - dt.timedelta(days=60)
    ).key


def marker_counts(fake: JiraFake) -> Counter[str]:
    return Counter(
        label
        for issue in fake.state.issues.values()
        for label in issue.labels
        if label.startswith("tb-")
    )


# -- the incident ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_incident_is_corrected_once_and_then_left_alone(flavour: str) -> None:
    wildcard = cert_id(WILDCARD)
    with fake_for(flavour) as fake:
        key = seed_incident(fake)
        with backend(fake) as system:
            report = run(system, incident())
            assert report.ok, report.failures

            record = fake.state.issues[key]
            assert record.duedate == dt.date(2026, 11, 14)
            assert {MARKER_LABEL, marker_label(wildcard)} <= set(record.labels)
            assert record.priority == "Highest"  # expires in 9 days: escalated in the same run
            assert record.properties["ticketbridge"]["endpoints"] == [
                "api.example.com:443@192.0.2.11",
                "app.example.com:443@192.0.2.10",
            ]
            (evidence,) = [c.body for c in system.comments(key)]
            fingerprint = served("x", "y", WILDCARD, WILDCARD_EXPIRY).certificate.fingerprint_sha256  # type: ignore[union-attr]
            for fact in (
                wildcard,
                fingerprint,
                "2026-12-05T21:44:22Z",
                "app.example.com:443@192.0.2.10",
                "api.example.com:443@192.0.2.11",
                "2027-09-01 -> 2026-11-14",
            ):
                assert fact in evidence
            assert list(fake.state.issues) == [key]  # no duplicate ticket was filed
            assert marker_counts(fake) == {marker_label(wildcard): 1}

            writes = fake.write_count()
            second = run(system, incident())
            assert second.plan.writes == 0
            assert fake.write_count() == writes


# -- 20% injected faults over 20 seeds ------------------------------------------------------------

RENEWED = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)


def busy_world() -> list[Observation]:
    """The incident, two certificates that need tickets, one renewed since its ticket was filed."""
    return [
        *incident(),
        served("b.example.com", "192.0.2.30", ("b.example.com",), NOW + dt.timedelta(days=30)),
        served("c.example.com", "192.0.2.31", ("c.example.com",), NOW + dt.timedelta(days=2)),
        served("d.example.com", "192.0.2.40", ("d.example.com",), RENEWED),
    ]


def seed_busy(fake: JiraFake) -> None:
    seed_incident(fake)
    d = cert_id(("d.example.com",))
    fake.seed_issue(
        "Renew TLS certificate d.example.com",
        duedate=dt.date(2026, 11, 20),
        labels=[MARKER_LABEL, marker_label(d)],
        created=NOW - dt.timedelta(days=20),
        properties={
            "ticketbridge": {"certificate_id": d, "endpoints": ["d.example.com:443@192.0.2.40"]}
        },
    )


def normalised(fake: JiraFake) -> list[tuple[Any, ...]]:
    """Issue state a person would compare: everything but keys, ids and timestamps."""
    return sorted(
        (
            issue.summary,
            issue.status,
            issue.resolution,
            issue.duedate,
            tuple(sorted(issue.labels)),
            issue.priority,
            issue.assignee,
            repr(sorted(issue.properties.items())),
            tuple(comment.body for comment in issue.comments),
        )
        for issue in fake.state.issues.values()
    )


def converge(fake: JiraFake, system: JiraTicketSystem, observations: Sequence[Observation]) -> int:
    """Run until a run plans nothing; the number of runs it took."""
    for number in range(1, 16):
        try:
            report = run(system, observations)
        except BackendError:
            continue  # the ticket system was unreachable this run: the next one tries again
        if report.plan.writes == 0:
            return number
    raise AssertionError("did not converge in 15 runs")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_twenty_percent_faults_converge_to_the_fault_free_state(flavour: str) -> None:
    with fake_for(flavour) as clean:
        seed_busy(clean)
        with backend(clean) as system:
            converge(clean, system, busy_world())
        expected = normalised(clean)
    assert len(expected) == 4  # the adopted incident ticket, the resolved one, two created

    injected = []
    for seed in range(20):
        with fake_for(flavour, seed=seed) as fake:
            seed_busy(fake)
            fake.faults.set_rate(0.2, seed=seed)
            with backend(fake) as system:
                converge(fake, system, busy_world())
                fake.faults.set_rate(0.0)
                writes = fake.write_count()
                assert run(system, busy_world()).plan.writes == 0
                assert fake.write_count() == writes
            injected += fake.faults.injected
            assert all(count == 1 for count in marker_counts(fake).values()), seed
            assert normalised(fake) == expected, f"seed {seed}"
    # The faults that make naive clients duplicate did fire: writes applied, answers lost.
    lost_answers = [f for f in injected if f.when == "after" and f.method in ("POST", "PUT")]
    assert len(injected) > 40 and len(lost_answers) > 5


# -- a converged run over 5,000 open tickets -----------------------------------------------------


@pytest.mark.parametrize(("flavour", "pages"), [("cloud", 50), ("datacenter", 5)])
def test_a_converged_run_over_5000_tickets_only_searches(flavour: str, pages: int) -> None:
    with fake_for(flavour) as fake:
        seed_incident(fake)
        with backend(fake) as system:
            assert run(system, incident()).ok
        for number in range(4999):
            fake.seed_issue(
                f"Upgrade the kernel on host-{number}", created=NOW - dt.timedelta(days=1)
            )
        fake.requests_log.clear()
        with backend(fake, deployment=flavour) as system:
            report = run(system, incident())
        assert report.plan.writes == 0
        assert fake.write_count() == 0
        assert all(record.is_search for record in fake.requests_log)
        assert len(fake.requests_log) == pages


# -- killed with SIGKILL during apply -----------------------------------------------------------


def test_sigkill_during_apply_never_leaves_a_duplicate(tmp_path: Path) -> None:
    observations = tmp_path / "observations.jsonl"
    world = busy_world() + [
        served(
            f"n{n}.example.com", "192.0.2.50", (f"n{n}.example.com",), NOW + dt.timedelta(days=20)
        )
        for n in range(6)
    ]
    observations.write_text("".join(observations_jsonl(world)))
    rng = random.Random(4)
    killed = 0
    for flavour in FLAVOURS:
        with JiraFake(flavour=flavour) as fake:
            seed_busy(fake)
            config = tmp_path / f"{flavour}.toml"
            config.write_text(
                '[tickets]\nbackend = "jira"\n'
                f'[jira]\nurl = "{fake.url}"\nproject = "OPS"\nemail = "{fake.email}"\n'
                "requests_per_second = 1000\n"
                # The world is observed at a fixed NOW: not aged out by the real clock.
                "[policy]\nmax_changes = 100\nmax_observation_age_hours = 1e6\n"
                f'[audit]\nlog_path = "{tmp_path / "audit.jsonl"}"\n'
            )
            env = {**os.environ, "TICKETBRIDGE_JIRA__TOKEN": fake.token}
            command = [sys.executable, "-m", "ticketbridge", "--config", str(config), "reconcile"]
            command += ["--observations", str(observations), "--format", "json"]
            for _ in range(3):
                kill_after = fake.write_count() + rng.randint(1, 6)
                process = subprocess.Popen(
                    command,
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                deadline = time.monotonic() + 30
                while process.poll() is None and time.monotonic() < deadline:
                    if fake.write_count() >= kill_after:
                        process.send_signal(signal.SIGKILL)
                        break
                    time.sleep(0.001)
                process.wait(timeout=30)
                killed += process.returncode == -signal.SIGKILL
                assert process.stderr is not None
                process.stderr.close()
                assert all(n == 1 for n in marker_counts(fake).values()), marker_counts(fake)
            final = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=60)
            assert final.returncode == 0, final.stderr.decode()[-2000:]
            assert all(n == 1 for n in marker_counts(fake).values()), marker_counts(fake)
            assert len(marker_counts(fake)) == 10  # wildcard, b, c, d and six more: one each
    assert killed >= 4  # most runs really were killed half-way through their writes
