"""The Jira adapter against answers no Jira should give (issue 10): bounded, one line, no writes."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ticketbridge.tickets.jira.search as jira_search
from support.hostile import Answer, Hostile, jira_json
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket
from ticketbridge.errors import BackendError, TransientBackendError
from ticketbridge.infra.retrying import RetryPolicy
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import JiraTicketSystem

ONCE = RetryPolicy(max_attempts=1)


def system_for(url: str, deployment: str = "datacenter", **changes: Any) -> JiraTicketSystem:
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


# -- searches that never end -------------------------------------------------------------------


def test_cloud_search_repeating_its_token_stops_with_one_line() -> None:
    page = jira_json({"issues": [issue(1)], "isLast": False, "nextPageToken": "same"})
    with Hostile(lambda method, path, body: page) as peer, system_for(peer.url, "cloud") as system:
        with pytest.raises(BackendError, match="no progress") as raised:
            system.open_tickets()
        assert len(peer.seen) <= 3
    assert "\n" not in str(raised.value)


def test_datacenter_search_with_a_huge_total_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jira_search, "MAX_PAGES", 25)

    def one_new_issue_a_page(method: str, path: str, body: bytes) -> Answer:
        start = json.loads(body)["startAt"]
        return jira_json({"issues": [issue(start + 1)], "total": 10**9, "startAt": start})

    with Hostile(one_new_issue_a_page) as peer, system_for(peer.url) as system:
        with pytest.raises(BackendError, match="after 25 pages"):
            system.open_tickets()
        assert len(peer.seen) == 25


def test_datacenter_search_repeating_the_same_page_stops_at_once() -> None:
    page = jira_json({"issues": [issue(1)], "total": 10**9, "startAt": 0})
    with Hostile(lambda method, path, body: page) as peer, system_for(peer.url) as system:
        with pytest.raises(BackendError, match="no progress"):
            system.open_tickets()
        assert len(peer.seen) == 2


# -- bounded time ------------------------------------------------------------------------------


def test_a_slowloris_answer_is_cut_at_the_request_deadline() -> None:
    slow = Answer(200, json.dumps({"issues": [], "total": 0}).encode() * 2, byte_pause=0.25)
    with (
        Hostile(lambda method, path, body: slow) as peer,
        system_for(peer.url, timeout=1.5) as system,
    ):
        started = time.monotonic()
        with pytest.raises(TransientBackendError, match=r"no answer within 1.5s"):
            system.open_tickets()
        elapsed = time.monotonic() - started
    assert elapsed < 3.0  # one byte every 0.25 s would have taken ~13 s


# -- fuzz: random JSON where Jira's answers should be ------------------------------------------

KEYS = ["issues", "total", "startAt", "key", "id", "fields", "isLast", "nextPageToken", "status",
        "created", "labels", "errorMessages", "comments", "transitions", "properties"]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**10) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=12,
)
# Near-Jira shapes: a page or an issue with some parts missing, mistyped or inconsistent.
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "summary": JSON,
        "created": st.just("2026-11-26T21:30:00.000+0000") | JSON,
        "status": st.fixed_dictionaries({}, optional={"name": JSON, "statusCategory": JSON}) | JSON,
        "labels": st.lists(st.text(max_size=4), max_size=2) | JSON,
        "duedate": st.just("2026-12-01") | JSON,
        "priority": JSON,
        "assignee": JSON,
    },
)
ISSUE = st.fixed_dictionaries(
    {},
    optional={
        "id": st.just("10001") | JSON,
        "key": st.just("OPS-1") | JSON,
        "fields": FIELDS | JSON,
    },
)
PAGE = st.fixed_dictionaries(
    {},
    optional={
        "issues": st.lists(ISSUE, max_size=3) | JSON,
        "total": st.integers(-1, 10**9) | JSON,
        "startAt": st.integers(-1, 5) | JSON,
        "isLast": st.booleans() | JSON,
        "nextPageToken": st.text(max_size=3) | JSON,
    },
)
ANSWER = PAGE | ISSUE | JSON
STATUS = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 404, 500])


def well_formed_page(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("issues"), list)
        and isinstance(value.get("total"), int)
    )


def one_short_line(error: BaseException) -> None:
    text = str(error)
    assert isinstance(error, BackendError), repr(error)
    assert "\n" not in text and len(text) < 400, text


@pytest.fixture(scope="module")
def peer() -> Iterator[Hostile]:
    with Hostile(lambda method, path, body: Answer(500)) as hostile:
        yield hostile


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(answer=ANSWER, status=STATUS)
def test_random_search_answers_never_crash_and_never_lead_to_a_write(
    peer: Hostile, answer: Any, status: int
) -> None:
    reply = jira_json(answer, status)
    peer.script, peer.seen = (lambda method, path, body: reply), []
    with system_for(peer.url) as system:
        started = time.monotonic()
        try:
            tickets = system.open_tickets()
        except BackendError as error:
            one_short_line(error)
        else:
            assert status < 300 and well_formed_page(answer)
            assert len(tickets) <= len(answer["issues"])
        assert peer.writes() == []
        assert time.monotonic() - started < 10


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(created=ANSWER, status=STATUS, other=ANSWER)
def test_after_an_unexpected_create_answer_nothing_more_is_written(
    peer: Hostile, created: Any, status: int, other: Any
) -> None:
    def script(method: str, path: str, body: bytes) -> Answer:
        if path.endswith("/search"):
            return jira_json({"issues": [], "total": 0, "startAt": 0})
        if method == "POST" and path.endswith("/issue"):
            return jira_json(created, status)
        return jira_json(other)

    cid = secrets.token_hex(8)
    ticket = NewTicket(
        summary="Renew",
        description="Soon.",
        due_date=dt.date(2026, 12, 1),
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid, "endpoints": ["a:443@192.0.2.1"]},
    )
    peer.script, peer.seen = script, []
    with system_for(peer.url) as system:
        try:
            system.create(ticket, "Filed.")
        except BackendError as error:
            one_short_line(error)
        writes = peer.writes()
    sane = (
        200 <= status < 300
        and isinstance(created, dict)
        and isinstance(created.get("key"), str)
        and str(created.get("id") or "").isdigit()
    )
    if not sane:
        assert [(w.method, w.path) for w in writes] == [("POST", "/rest/api/2/issue")]


def test_credentials_in_netrc_never_replace_or_join_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    def script(method: str, path: str, body: bytes) -> Answer:
        if path.endswith("/serverInfo"):
            return jira_json({"deploymentType": "Server", "version": "9.12.15"})
        return jira_json({"issues": [], "total": 0, "startAt": 0})

    with Hostile(script) as peer, system_for(peer.url, "auto") as system:
        system.open_tickets()
        sent = [(seen.path.split("?")[0], seen.authorization) for seen in peer.seen]
    assert sent == [("/rest/api/2/serverInfo", ""), ("/rest/api/2/search", "Bearer t0ken")]
