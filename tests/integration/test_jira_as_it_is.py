"""Jira as it really is (issue 8) and on a bad day (issue 10): the vendor's contract, not ours."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import secrets
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import ticketbridge.tickets.jira.search as jira_search
from support.jirafake import FaultRule, JiraFake, Transition, User
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from support.jirafake.state import BOT
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.errors import TransientBackendError
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import JiraTicketSystem

DUE = dt.date(2026, 11, 14)


def settings_for(fake: JiraFake, **changes: Any) -> JiraOptions:
    values: dict[str, Any] = {
        "url": fake.url,
        "project": "OPS",
        "email": fake.email,
        "token": fake.token,
        "requests_per_second": 1000,
    }
    values.update(changes)
    return JiraOptions(**values)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def new_ticket(cid: str | None = None, **changes: Any) -> NewTicket:
    cid = cid or secrets.token_hex(8)
    fields: dict[str, Any] = {
        "summary": "Renew TLS certificate *.example.com",
        "description": "The certificate for *.example.com expires soon.",
        "due_date": DUE,
        "labels": (MARKER_LABEL, marker_label(cid)),
        "certificate_id": cid,
        "evidence": {"certificate_id": cid, "endpoints": ["app.example.com:443@192.0.2.10"]},
    }
    fields.update(changes)
    return NewTicket(**fields)


def issues_with(fake: JiraFake, label: str) -> list[str]:
    return [i.key for i in fake.state.issues.values() if label in i.labels]


@pytest.fixture
def cloud() -> Iterator[JiraFake]:
    hidden = User(
        "557058:carol-0003", "carol", "Carol Hidden", "carol@example.com", email_visible=False
    )
    with JiraFake(flavour="cloud", users=[BOT, hidden]) as fake:
        yield fake


# -- Data Center ------------------------------------------------------------------------------


def test_datacenter_reads_tracked_endpoints_only_for_tickets_a_run_did_not_observe() -> None:
    with (
        JiraFake(flavour="datacenter") as fake,
        JiraTicketSystem(settings_for(fake), sleep=Sleeps()) as system,
    ):
        seen, gone = secrets.token_hex(8), secrets.token_hex(8)
        system.create(new_ticket(seen), "Filed.")
        system.create(new_ticket(gone), "Filed.")
        fake.requests_log.clear()

        listed = system.open_tickets()
        assert [r.method for r in fake.requests_log] == ["POST"]  # one search, nothing else
        assert "properties" not in (fake.requests_log[0].body or {})
        assert all(ticket.tracked_endpoints == () for ticket in listed)

        completed = system.with_tracked_endpoints(listed, {seen})
        reads = [r.path for r in fake.requests_log if r.method == "GET"]
        assert len(reads) == 1 and reads[0].endswith(issues_with(fake, marker_label(gone))[0])
        by_marker = {ticket.marker_ids[0]: ticket for ticket in completed}
        assert by_marker[gone].tracked_endpoints == ("app.example.com:443@192.0.2.10",)
        assert by_marker[seen].tracked_endpoints == ()
        assert fake.write_count() == 0


# -- Cloud assignees ---------------------------------------------------------------------------


def test_cloud_assignee_by_account_id_needs_no_lookup(cloud: JiraFake) -> None:
    with JiraTicketSystem(settings_for(cloud), sleep=Sleeps()) as system:
        created = system.create(new_ticket(assignee="557058:carol-0003"), "Filed.")
    assert cloud.state.issues[created.key].assignee == "carol"
    assert not cloud.requests("GET", "/user/search")


@pytest.mark.parametrize("browse_users", [True, False], ids=["hidden-email", "no-permission"])
def test_cloud_unresolvable_email_creates_unassigned_naming_the_owner(
    browse_users: bool,
) -> None:
    hidden = User(
        "557058:carol-0003", "carol", "Carol Hidden", "carol@example.com", email_visible=False
    )
    with (
        JiraFake(flavour="cloud", users=[BOT, hidden], browse_users=browse_users) as fake,
        JiraTicketSystem(settings_for(fake), sleep=Sleeps()) as system,
    ):
        cid = secrets.token_hex(8)
        created = system.create(new_ticket(cid, assignee="carol@example.com"), "Filed.")
        issue = fake.state.issues[created.key]
        assert issue.assignee is None
        assert issue.properties["ticketbridge"]["intended_assignee"] == "carol@example.com"
        (comment,) = system.comments(created.key)
        assert "the intended assignee is carol@example.com" in comment.body
        # The next run sees the owner it could not assign, so plans no impossible edit.
        (listed,) = [t for t in system.open_tickets() if t.key == created.key]
        assert listed.assignee == "carol@example.com (unassigned: not resolvable in Jira)"


def test_cloud_unresolvable_assignee_on_edit_still_edits(cloud: JiraFake) -> None:
    with JiraTicketSystem(settings_for(cloud), sleep=Sleeps()) as system:
        created = system.create(new_ticket(), "Filed.")
        edited = system.edit(
            created.key,
            TicketEdit(due_date=DUE.replace(day=1), assignee="carol@example.com"),
            "Due date moved.",
        )
    issue = cloud.state.issues[created.key]
    assert issue.duedate == DUE.replace(day=1) and issue.assignee is None
    assert issue.properties["ticketbridge"]["intended_assignee"] == "carol@example.com"
    assert issue.properties["ticketbridge"]["endpoints"] == ["app.example.com:443@192.0.2.10"]
    assert edited.assignee == "carol@example.com (unassigned: not resolvable in Jira)"


# -- the soft spots ----------------------------------------------------------------------------


def test_cloud_pages_without_is_last_are_followed_by_their_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jira_search, "CLOUD_PAGE", 1)  # one issue a page: three pages
    with JiraFake(flavour="cloud", omit_is_last=True) as fake:
        for number in range(3):
            fake.seed_issue(f"Hand-filed {number}")
        with JiraTicketSystem(settings_for(fake), sleep=Sleeps()) as system:
            listed = system.open_tickets()
    assert sorted(ticket.key for ticket in listed) == ["OPS-1", "OPS-2", "OPS-3"]


def test_a_far_rate_limit_reset_fails_at_once_and_says_why() -> None:
    now = dt.datetime(2026, 11, 26, 21, 30, tzinfo=dt.UTC)
    sleeps = Sleeps()
    with JiraFake(flavour="cloud") as fake:
        fake.faults.add(
            FaultRule(effect=429, path=r"/search", rate_limit_reset=now + dt.timedelta(days=3))
        )
        with (
            JiraTicketSystem(settings_for(fake), clock=lambda: now, sleep=sleeps) as system,
            pytest.raises(TransientBackendError) as raised,
        ):
            system.open_tickets()
    assert sleeps.calls == []
    assert "Jira asked to wait 259,200s, longer than the retry budget of 120s" in str(raised.value)


def test_a_done_ticket_without_a_resolution_date_is_still_found_for_reopening() -> None:
    with (
        JiraFake(flavour="datacenter") as fake,
        JiraTicketSystem(settings_for(fake), sleep=Sleeps()) as system,
    ):
        cid = secrets.token_hex(8)
        created = system.create(new_ticket(cid), "Filed.")
        issue = fake.state.issues[created.key]
        issue.status, issue.resolution, issue.resolutiondate = "Done", None, None
        listed = [t for t in system.open_tickets() if t.key == created.key]
    assert [(t.status_category, t.resolved_at, t.marker_ids) for t in listed] == [
        ("done", None, (cid,))
    ]


# -- workflows as the vendor shows them --------------------------------------------------------


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_done_takes_a_resolution_the_screen_offers(flavour: str) -> None:
    workflow = [
        Transition("31", "Close", "Done", screen=frozenset({"resolution", "comment"}),
                   resolutions=("Won't Do", "Fixed")),
        Transition("41", "Reopen", "To Do", sources=("Done",), clears_resolution=True),
    ]  # fmt: skip
    with JiraFake(flavour=flavour, transitions=workflow) as fake:
        fake.state.resolutions["Fixed"] = "10003"
        with JiraTicketSystem(settings_for(fake), sleep=Sleeps()) as system:
            created = system.create(new_ticket(), "Filed.")
            closed = system.transition(created.key, "done", "Renewed.")
    assert closed.status_category == "done"
    # Not the first offered ("Won't Do"): one that says the work is finished.
    assert fake.state.issues[created.key].resolution == "Fixed"


# -- the wire as Jira Cloud writes it ----------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
def test_a_compressed_chunked_answer_is_read_whole(encoding: str) -> None:
    """Jira Cloud answers with `Transfer-Encoding: chunked` and `Content-Encoding: gzip`; the
    adapter reads bodies itself (to keep its deadline), so it must undo both."""
    page = {"issues": [], "total": 0, "startAt": 0, "padding": "x" * 50_000}
    raw = json.dumps(page).encode()
    payload = (
        gzip.compress(raw)
        if encoding == "gzip"
        else zlib.compress(raw)
        if encoding == "deflate"
        else raw
    )

    class Chunked(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", encoding)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(payload), 4096):
                chunk = payload[start : start + 4096]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Chunked)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        options = JiraOptions(
            url=f"http://127.0.0.1:{server.server_address[1]}",
            project="OPS",
            token="t",
            deployment="datacenter",
            requests_per_second=1000,
        )
        with JiraTicketSystem(options, sleep=Sleeps()) as system:
            assert system.open_tickets() == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
