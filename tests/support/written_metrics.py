"""The metric names ticketbridge writes, read from a real `--metrics-file` output (not a list)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from functools import cache
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from support.builders import NOW, RENEWED_EXPIRY, WILDCARD, WILDCARD_EXPIRY, failed, served
from ticketbridge.app.metrics import write_metrics
from ticketbridge.app.run import RunOutcome
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import build_inventory
from ticketbridge.core.model import ErrorKind, Verification
from ticketbridge.core.policy import Policy

METRIC = re.compile(r"\bticketbridge_[a-z_]+\b")


@cache
def written_metric_names() -> frozenset[str]:
    trusted = Verification(trusted=True, hostname_match=True)
    observations = [
        replace(
            served("app.example.com", "192.0.2.10", WILDCARD, RENEWED_EXPIRY), verification=trusted
        ),
        replace(
            served("api.example.com", "192.0.2.11", WILDCARD, WILDCARD_EXPIRY), verification=trusted
        ),
        failed("old.example.com", "192.0.2.30", ErrorKind.REFUSED),
    ]
    inventory = build_inventory(observations)
    outcome = RunOutcome(inventory, decide(inventory, [], Policy(), NOW), None, tuple(observations))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ticketbridge.prom"
        write_metrics(path, observations, outcome, duration=1.0)
        text = path.read_text(encoding="utf-8")
    return frozenset(family.name for family in text_string_to_metric_families(text))


def metric_names_in(text: str) -> set[str]:
    return set(METRIC.findall(text))
