"""The Jira adapter on a worse day (issue 14, "found on a bad day"): contradictory Cloud pages, headers
trickled a byte at a time, hostile nesting and shapes, pages without end. Each is one error, no write.

The rules these answers break are the vendor's: Cloud's enhanced search returns `isLast` and, when
there are more results, `nextPageToken` (CLOUD3 searchAndReconsileIssuesUsingJql, response
SearchAndReconcileResults); `maxResults` is "the maximum number of items to return per page"
(same reference; DC api/2/search); a transition's `to.statusCategory` is a StatusCategory object
(CLOUD3 getTransitions, IssueTransition -> StatusDetails -> StatusCategory).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

import ticketbridge.tickets.jira.search as jira_search
from support.builders import NOW, served
from support.hostile import Answer, Hostile, jira_json
from support.jirafake import JiraFake
from support.jirafake.faults import FaultRule
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from ticketbridge.app.config import load_settings
from ticketbridge.app.run import reconcile
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket
from ticketbridge.errors import BackendError, TransientBackendError
from ticketbridge.infra.retrying import RetryPolicy
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import JiraTicketSystem

ONCE = RetryPolicy(max_attempts=1)


def system_for(url: str, deployment: str = "cloud", **changes: Any) -> JiraTicketSystem:
    options = JiraOptions(
        url=url,
        project="OPS",
        token="t0ken",
        email="bot@example.com",
        deployment=deployment,  # type: ignore[arg-type]
        requests_per_second=1000,
        **changes,
    )
    return JiraTicketSystem(options, sleep=lambda seconds: None, retry_policy=ONCE)


def issue(number: int) -> dict[str, Any]:
    return {
        "id": str(10000 + number),
        "key": f"OPS-{number}",
        "fields": {"summary": "x", "created": "2026-11-26T21:30:00.000+0000", "labels": []},
    }


def new_ticket() -> NewTicket:
    cid = secrets.token_hex(8)
    return NewTicket(
        summary="Renew",
        description="Soon.",
        due_date=dt.date(2026, 12, 1),
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid, "endpoints": ["a:443@192.0.2.1"]},
    )


# -- contradictory Cloud pages -----------------------------------------------------------------

CONTRADICTORY = [
    pytest.param({"issues": [], "isLast": False}, "isLast is false", id="not-last-without-token"),
    pytest.param({"issues": [], "total": 5}, "5 issues in all", id="total-beyond-listed"),
    pytest.param(
        {"issues": [issue(1)], "isLast": True, "total": 3}, "3 issues in all", id="last-short"
    ),
]


@pytest.mark.parametrize(("page", "said"), CONTRADICTORY)
def test_a_contradictory_cloud_page_is_an_error_in_the_planning_search(
    page: dict[str, Any], said: str
) -> None:
    with (
        Hostile(lambda m, p, b: jira_json(page)) as peer,
        system_for(peer.url) as system,
        pytest.raises(BackendError, match=said),
    ):
        system.open_tickets()


@pytest.mark.parametrize(("page", "said"), CONTRADICTORY)
def test_a_contradictory_cloud_page_before_a_create_files_nothing(
    page: dict[str, Any], said: str
) -> None:
    with Hostile(lambda m, p, b: jira_json(page)) as peer, system_for(peer.url) as system:
        ticket = new_ticket()
        with pytest.raises(BackendError, match=said):
            system.find_by_marker(ticket.certificate_id)
        assert peer.writes() == []


@pytest.mark.parametrize("page", [{"issues": [issue(1)], "isLast": True}, {"issues": [issue(1)]}])
def test_the_documented_last_page_shapes_still_end_a_search(page: dict[str, Any]) -> None:
    with Hostile(lambda m, p, b: jira_json(page)) as peer, system_for(peer.url) as system:
        assert [t.key for t in system.open_tickets()] == ["OPS-1"]


# -- bounded memory ----------------------------------------------------------------------------


def test_a_page_larger_than_asked_for_is_refused_at_once() -> None:
    counter = iter(range(10**6))

    def fresh_token_5000_issues(method: str, path: str, body: bytes) -> Answer:
        base = next(counter) * 5000
        issues = [issue(base + n) for n in range(5000)]
        return jira_json({"issues": issues, "isLast": False, "nextPageToken": f"t{base}"})

    with Hostile(fresh_token_5000_issues) as peer, system_for(peer.url) as system:
        with pytest.raises(BackendError, match="more than the 100 asked for"):
            system.open_tickets()
        assert len(peer.seen) == 1


@pytest.mark.parametrize("deployment", ["cloud", "datacenter"])
def test_what_a_search_holds_in_all_is_bounded(
    monkeypatch: pytest.MonkeyPatch, deployment: str
) -> None:
    monkeypatch.setattr(jira_search, "MAX_SEARCH_BYTES", 200_000)
    counter = iter(range(10**6))

    def endless(method: str, path: str, body: bytes) -> Answer:
        base = next(counter) * 100
        issues = [issue(base + n) for n in range(100)]
        if deployment == "cloud":
            return jira_json({"issues": issues, "isLast": False, "nextPageToken": f"t{base}"})
        return jira_json({"issues": issues, "total": 10**9, "startAt": base})

    with Hostile(endless) as peer, system_for(peer.url, deployment) as system:
        with pytest.raises(BackendError, match="add up to more than 200,000 bytes"):
            system.open_tickets()
        # ~15 KB a page: the budget, not the 500-page cap, ended it.
        assert len(peer.seen) < 20


# -- bounded time ------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [1.0, 2.0])
def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_deadline(timeout: float) -> None:
    trickle = Answer(200, b'{"issues": [], "isLast": true}', header_pause=0.2)
    with Hostile(lambda m, p, b: trickle) as peer, system_for(peer.url, timeout=timeout) as system:
        started = time.monotonic()
        with pytest.raises(TransientBackendError, match=rf"no answer within {timeout:g}s"):
            system.open_tickets()
        elapsed = time.monotonic() - started
    # ~250 header bytes at 0.2 s each would take ~50 s; the bound is the whole exchange.
    assert timeout <= elapsed < timeout + 0.75


def test_a_prompt_answer_is_not_cut_by_the_watchdog_of_an_earlier_one() -> None:
    page = jira_json({"issues": [issue(1)], "isLast": True})
    with Hostile(lambda m, p, b: page) as peer, system_for(peer.url, timeout=0.5) as system:
        for _ in range(3):
            assert len(system.open_tickets()) == 1
            time.sleep(0.3)  # past half the timeout: a stale watchdog would now fire


# -- hostile answers ---------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("where", ["search", "transitions"])
def test_deeply_nested_json_is_one_error(where: str) -> None:
    def script(method: str, path: str, body: bytes) -> Answer:
        if where in path or (where == "search" and "search" in path):
            return Answer(200, nested(200_000), {"Content-Type": "application/json"})
        return jira_json(issue(1) | {"fields": {**issue(1)["fields"], "status": {}}})

    with Hostile(script) as peer, system_for(peer.url) as system:
        with pytest.raises(BackendError, match="nested too deeply"):
            if where == "search":
                system.open_tickets()
            else:
                system.transitions_of("OPS-1")
        assert peer.writes() == []


def test_a_transition_whose_status_category_is_a_string_is_one_error() -> None:
    transitions = {
        "transitions": [
            {"id": "31", "name": "Done", "to": {"name": "Done", "statusCategory": "done"}}
        ]
    }
    open_issue = issue(1)
    open_issue["fields"]["status"] = {"name": "To Do", "statusCategory": {"key": "new"}}

    def script(method: str, path: str, body: bytes) -> Answer:
        if path.split("?")[0].endswith("/transitions"):
            return jira_json(transitions)
        return jira_json(open_issue)

    with Hostile(script) as peer, system_for(peer.url) as system:
        with pytest.raises(BackendError, match="statusCategory is not an object"):
            system.transition("OPS-1", "done", "Renewed.")
        assert peer.writes() == []


def test_nested_json_in_a_marker_search_files_nothing() -> None:
    answer = Answer(200, nested(200_000), {"Content-Type": "application/json"})
    with Hostile(lambda m, p, b: answer) as peer, system_for(peer.url) as system:
        with pytest.raises(BackendError):
            system.find_by_marker(new_ticket().certificate_id)
        assert peer.writes() == []
    assert json.dumps(answer.status)


def test_a_deeply_nested_error_body_is_one_error() -> None:
    refusal = Answer(400, nested(200_000), {"Content-Type": "application/json"})
    with (
        Hostile(lambda m, p, b: refusal) as peer,
        system_for(peer.url) as system,
        pytest.raises(BackendError, match="HTTP 400"),
    ):
        system.open_tickets()


# -- the run goes on ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_hostile_answer_fails_one_ticket_and_the_run_goes_on(
    flavour: str, tmp_path: Path
) -> None:
    """Deeply nested JSON for the first marker search: that create fails with one line, the
    other certificate's ticket is still filed, and the run reports one failure (exit 1)."""
    expiry = NOW + dt.timedelta(days=5)
    seen = [
        served(f"h{n}.example.com", "192.0.2.10", [f"h{n}.example.com"], expiry) for n in (1, 2)
    ]
    with JiraFake(flavour=flavour) as fake:
        search = r"/search/jql$" if flavour == "cloud" else r"/search$"
        # The first search plans; the second is the first create's marker search.
        fake.faults.add(FaultRule(effect=200, path=search, nth=2, body=nested(100_000)))
        config = tmp_path / "ticketbridge.toml"
        config.write_text(
            f'[tickets]\nbackend = "jira"\n[jira]\nurl = "{fake.url}"\nproject = "OPS"\n'
            f'email = "{fake.email}"\ndeployment = "{flavour}"\nrequests_per_second = 1000\n'
            f'[audit]\nlog_path = "{tmp_path / "audit.jsonl"}"\n'
        )
        settings = load_settings(config, environ={"TICKETBRIDGE_JIRA__TOKEN": fake.token})
        outcome = reconcile(
            settings, config, seen, dry_run=False, force=True, max_changes=None, now=NOW
        )
        filed = [i.summary for i in fake.state.issues.values()]
    assert outcome.report is not None
    failed = {r.action.certificate.id: r.error for r in outcome.report.results if r.error}
    assert len(failed) == 1 and "nested too deeply" in next(iter(failed.values()))
    assert len(filed) == 1 and "h2.example.com" in filed[0]
