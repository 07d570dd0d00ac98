"""Benchmark: plan 10,000 tracked certificates against 10,000 open tickets; prints CPU seconds.

Run: .venv/bin/python bench/bench_plan.py [--certificates N]   (target: at most 1 s of CPU)
"""

from __future__ import annotations

import argparse
import hashlib
import time
from datetime import UTC, date, datetime, timedelta

from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import build_inventory
from ticketbridge.core.model import (
    MARKER_LABEL,
    CertFacts,
    Endpoint,
    ErrorKind,
    Observation,
    ProbeError,
    Ticket,
    marker_label,
)
from ticketbridge.core.policy import Policy
from ticketbridge.core.x509facts import tracked_id

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


def address(index: int) -> str:
    return f"10.{index // 65536}.{index // 256 % 256}.{index % 256}"


def observation(index: int) -> Observation:
    host = f"host{index}.example.net"
    names = (host, f"alt{index}.example.net")
    not_after = NOW + timedelta(days=index % 400 - 5, hours=index % 24)
    leaf = CertFacts(
        fingerprint_sha256=hashlib.sha256(host.encode()).hexdigest(),
        serial=format(index, "x"),
        subject=f"CN={host}",
        issuer="CN=Bench CA",
        names=names,
        not_before=not_after - timedelta(days=398),
        not_after=not_after,
        common_name=host,
    )
    return Observation(
        endpoint=Endpoint(host=host, port=443, address=address(index), sni=host),
        observed_at=NOW,
        status="ok",
        certificate=leaf,
        chain=(leaf,),
        effective_not_after=not_after,
    )


def failure(index: int) -> Observation:
    host = f"gone{index}.example.net"
    return Observation(
        endpoint=Endpoint(host=host, port=443, address="", sni=host),
        observed_at=NOW,
        status="error",
        error=ProbeError(ErrorKind.DNS, "NXDOMAIN"),
    )


def ticket(index: int) -> Ticket:
    host = f"host{index}.example.net"
    cert = tracked_id(sorted((host, f"alt{index}.example.net")))
    created = NOW - timedelta(days=30, minutes=index)
    due = date(2026, 11, 1) + timedelta(days=index % 300)
    if index % 10 < 7:  # ticketbridge's own tickets, some with a due date gone stale
        return Ticket(
            key=f"OPS-{index}",
            summary=f"Renew TLS certificate {host} (+1 name)",
            status="To Do",
            status_category="new",
            created=created,
            due_date=due,
            labels=(MARKER_LABEL, marker_label(cert)),
            tracked_endpoints=(f"{host}:443@{address(index)}",),
        )
    if index % 10 < 9:  # hand-filed, to be adopted
        summary = f"Please renew the certificate on {host} before it expires"
    else:
        summary = f"Upgrade nginx on build{index}.example.org"
    return Ticket(
        key=f"OPS-{index}",
        summary=summary,
        status="In Progress" if index % 3 == 0 else "To Do",
        status_category="indeterminate" if index % 3 == 0 else "new",
        created=created,
        due_date=due,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    count = args.certificates
    observations = [observation(index) for index in range(count)]
    observations += [failure(index) for index in range(count // 100)]
    inventory = build_inventory(observations)
    tickets = [ticket(index) for index in range(count)]
    policy = Policy()

    best = float("inf")
    for _ in range(args.repeat):
        started = time.process_time()
        result = decide(inventory, tickets, policy, NOW)
        best = min(best, time.process_time() - started)
    print(
        f"planned {len(inventory.certificates)} certificates against {len(tickets)} tickets: "
        f"{len(result.actions)} actions ({result.writes} writes) "
        f"in {best:.3f} s CPU (best of {args.repeat})"
    )
    print(" ".join(f"{kind}={n}" for kind, n in result.summary.items()))


if __name__ == "__main__":
    main()
