"""Ticket text reads right: tense that agrees, each change once, endpoints grouped by what they serve."""

from __future__ import annotations

from datetime import timedelta

from support.big_worlds import NOW, observation
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import build_inventory
from ticketbridge.core.model import Observation
from ticketbridge.core.plan import Plan
from ticketbridge.core.policy import Policy

NAMES = ("www.example.com", "example.com")


def _plan(*observations: Observation) -> Plan:
    return decide(build_inventory(list(observations), ()), [], Policy(), NOW)


def test_an_expired_certificate_reads_expired_not_expires_expired() -> None:
    plan = _plan(observation("www.example.com", "192.0.2.1", NAMES, NOW - timedelta(days=2373)))

    reasons = [action.reason for action in plan.actions]
    assert reasons
    assert not [reason for reason in reasons if "expires expired" in reason], reasons
    assert any("www.example.com expired 2373 days ago, within the" in r for r in reasons), reasons
    assert "www.example.com expired 2373 days ago: on-call is paged" in reasons
    assert not [reason for reason in reasons if "has already expired" in reason], reasons


def test_a_create_that_is_also_escalated_lists_the_priority_change_once() -> None:
    plan = _plan(observation("www.example.com", "192.0.2.1", NAMES, NOW + timedelta(days=2)))

    comment = next(action.comment for action in plan.actions if action.new_ticket is not None)
    changes = comment.split("Changes:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line for line in changes if line.startswith("- priority:")] == [
        "- priority: (none) -> Highest"
    ], comment


def test_other_endpoints_are_grouped_by_the_certificates_they_really_serve() -> None:
    stale = observation("old.example.com", "192.0.2.1", NAMES, NOW + timedelta(days=5))
    # 15 other endpoints serving 11 different later copies of the certificate.
    others = [
        observation(
            f"n{i}.example.com", f"192.0.2.{10 + i}", NAMES, NOW + timedelta(days=100 + i % 11)
        )
        for i in range(15)
    ]

    plan = _plan(stale, *others)

    reason = next(action.reason for action in plan.actions if action.new_ticket is not None)
    first, last = (NOW + timedelta(days=100)), (NOW + timedelta(days=110))
    assert (
        f"while 15 other endpoints serve 11 different certificates expiring "
        f"{first:%Y-%m-%dT%H:%M:%SZ} to {last:%Y-%m-%dT%H:%M:%SZ}, so the renewal is not done"
    ) in reason, reason


def test_other_endpoints_serving_one_renewal_say_so() -> None:
    stale = observation("old.example.com", "192.0.2.1", NAMES, NOW + timedelta(days=5))
    renewed = [
        observation(f"n{i}.example.com", f"192.0.2.{10 + i}", NAMES, NOW + timedelta(days=100))
        for i in range(3)
    ]

    reason = next(a.reason for a in _plan(stale, *renewed).actions if a.new_ticket is not None)

    expiry = NOW + timedelta(days=100)
    assert f"while 3 other endpoints serve one expiring {expiry:%Y-%m-%dT%H:%M:%SZ}" in reason
