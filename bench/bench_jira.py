"""Benchmark: a converged reconcile over 5,000 open Jira tickets against the local Jira.

Prints, per flavour, the requests one run makes (all searches, no writes) and its wall time.
Everything runs on 127.0.0.1. Run: .venv/bin/python bench/bench_jira.py [--tickets N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


from support.jirafake import JiraFake  # noqa: E402
from ticketbridge.core.apply import apply_plan  # noqa: E402
from ticketbridge.core.decide import decide  # noqa: E402
from ticketbridge.core.inventory import build_inventory  # noqa: E402
from ticketbridge.core.model import CertFacts, Endpoint, Observation  # noqa: E402
from ticketbridge.core.policy import Policy  # noqa: E402
from ticketbridge.tickets.jira.options import JiraOptions  # noqa: E402
from ticketbridge.tickets.jira.system import JiraTicketSystem  # noqa: E402

NOW = dt.datetime(2026, 11, 26, 21, 30, tzinfo=dt.UTC)


def served(host: str, address: str, names: tuple[str, ...], not_after: dt.datetime) -> Observation:
    fingerprint = hashlib.sha256(f"{names}|{not_after}".encode()).hexdigest()
    leaf = CertFacts(fingerprint, "01", f"CN={names[0]}", "CN=Bench CA", names,
                     not_after - dt.timedelta(days=90), not_after, common_name=names[0])  # fmt: skip
    return Observation(Endpoint(host, 443, address, host), NOW, "ok", certificate=leaf,
                       chain=(leaf,), effective_not_after=not_after)  # fmt: skip


def observations(certificates: int) -> list[Observation]:
    return [
        served(
            f"svc{n}.example.com",
            f"10.0.{n // 250}.{n % 250 + 1}",
            (f"svc{n}.example.com",),
            NOW + dt.timedelta(days=20 + n % 20),
        )
        for n in range(certificates)
    ]


def system(fake: JiraFake, flavour: str) -> JiraTicketSystem:
    settings = JiraOptions(url=fake.url, project="OPS", email=fake.email, deployment=flavour,  # type: ignore[arg-type]
                            token=fake.token, requests_per_second=1000)  # fmt: skip
    return JiraTicketSystem(settings, clock=lambda: NOW, sleep=lambda s: None)


def bench(flavour: str, tickets: int, certificates: int) -> tuple[int, int, float, float]:
    world = observations(certificates)
    with JiraFake(flavour=flavour, clock=lambda: NOW) as fake:
        with system(fake, flavour) as backend:  # the first run files one ticket per certificate
            decided = decide(build_inventory(world), backend.open_tickets(), Policy(), NOW)
            assert apply_plan(decided, backend).ok
        for number in range(tickets - certificates):
            fake.seed_issue(f"Upgrade the kernel on host-{number}")
        fake.requests_log.clear()
        started = time.perf_counter()
        with system(fake, flavour) as backend:
            open_tickets = backend.open_tickets()
            read = time.perf_counter() - started
            decided = decide(build_inventory(world), open_tickets, Policy(), NOW)
            report = apply_plan(decided, backend)
        elapsed = time.perf_counter() - started
        assert report.plan.writes == 0 and fake.write_count() == 0, "not converged"
        assert len(open_tickets) == tickets
        return len(fake.requests_log), fake.write_count(), read, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--certificates", type=int, default=50)
    args = parser.parse_args()
    print(f"converged run over {args.tickets} open tickets ({args.certificates} tracked)")
    print("| flavour | requests/run | writes | search time | run time |")
    print("|---|---:|---:|---:|---:|")
    for flavour in ("cloud", "datacenter"):
        requests_made, writes, read, elapsed = bench(flavour, args.tickets, args.certificates)
        print(f"| {flavour} | {requests_made} | {writes} | {read:.2f}s | {elapsed:.2f}s |")


if __name__ == "__main__":
    main()
