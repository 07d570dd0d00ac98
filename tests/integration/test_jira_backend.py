"""The Jira backend against the local Jira, both flavours: outcomes in the fake's state."""

from __future__ import annotations

import datetime as dt
import secrets
import ssl
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

import ticketbridge.tickets.jira.search as jira_search
from support.jirafake import FaultRule, JiraFake, default_transitions, jql
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket, TicketEdit
from ticketbridge.errors import (
    ConfigError,
    PermanentBackendError,
    TransientBackendError,
    WriteOutcomeUnknown,
)
from ticketbridge.infra.retrying import RetryPolicy
from ticketbridge.tickets.jira.jql import jql_quote, strip_order_by
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.richtext import unwrap_noformat, wrap_noformat
from ticketbridge.tickets.jira.system import JiraTicketSystem

FLAVOURS = ["cloud", "datacenter"]
DUE = dt.date(2026, 11, 14)


class Sleeps:
    """A sleep that records and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


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


@pytest.fixture(params=FLAVOURS)
def fake(request: pytest.FixtureRequest) -> Iterator[JiraFake]:
    with JiraFake(flavour=request.param) as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def system(fake: JiraFake, sleeps: Sleeps) -> Iterator[JiraTicketSystem]:
    with JiraTicketSystem(settings_for(fake), sleep=sleeps) as backend:
        yield backend


def new_ticket(cid: str | None = None, **changes: Any) -> NewTicket:
    cid = cid or secrets.token_hex(8)
    fields: dict[str, Any] = {
        "summary": "Renew TLS certificate *.example.com (+1 name)",
        "description": "The certificate for *.example.com, example.com expires soon.\n\n- app",
        "due_date": DUE,
        "labels": (MARKER_LABEL, marker_label(cid)),
        "certificate_id": cid,
        "evidence": {"certificate_id": cid, "endpoints": ["app.example.com:443@192.0.2.10"]},
    }
    fields.update(changes)
    return NewTicket(**fields)


def issues_with(fake: JiraFake, label: str) -> list[str]:
    return [i.key for i in fake.state.issues.values() if label in i.labels]


# -- the basics, per flavour ----------------------------------------------------------------------


def test_create_writes_one_issue_with_markers_evidence_and_comment(
    fake: JiraFake, system: JiraTicketSystem
) -> None:
    cid = secrets.token_hex(8)
    created = system.create(new_ticket(cid, priority="High"), "Evidence: *bold* {code}x{code}")

    record = fake.state.issues[created.key]
    assert record.labels == sorted({MARKER_LABEL, marker_label(cid)})
    assert record.duedate == DUE
    assert record.priority == "High"
    assert record.properties["ticketbridge"]["endpoints"] == ["app.example.com:443@192.0.2.10"]
    assert created.tracked_endpoints == ("app.example.com:443@192.0.2.10",)
    assert created.url == f"{fake.url}/browse/{created.key}"
    assert [c.body for c in system.comments(created.key)] == ["Evidence: *bold* {code}x{code}"]
    assert (
        len([r for r in fake.requests_log if r.method == "POST" and r.path.endswith("/issue")]) == 1
    )


def test_text_is_never_markup_adf_on_cloud_noformat_on_data_center(
    fake: JiraFake, system: JiraTicketSystem
) -> None:
    hostile = "CN=*.example.com,O=Evil {noformat} [~admin] |x| h1. hi\\\\"
    created = system.create(new_ticket(description=hostile), hostile)

    record = fake.state.issues[created.key]
    if fake.is_cloud:
        # Written as an Atlassian document through v3: the text is text.
        assert record.comments[0].body == hostile
        assert all("/rest/api/3/" in r.path for r in fake.requests_log if r.is_write)
    else:
        assert record.comments[0].body.startswith("{noformat}\n")
        assert record.comments[0].body.endswith("\n{noformat}")
        # The one token that could end the block early is broken, reversibly.
        assert record.comments[0].body.count("{noformat}") == 2
        assert record.description is not None and record.description.count("{noformat}") == 2
    assert system.comments(created.key)[0].body == hostile


def test_edit_is_one_request_with_fields_labels_and_comment(
    fake: JiraFake, system: JiraTicketSystem
) -> None:
    record = fake.seed_issue("Renew *.example.com", duedate=dt.date(2027, 9, 1))
    cid = secrets.token_hex(8)
    before = len(fake.requests_log)

    edited = system.edit(
        record.key,
        TicketEdit(
            due_date=DUE,
            add_labels=(MARKER_LABEL, marker_label(cid)),
            priority="Highest",
            evidence={"certificate_id": cid, "endpoints": ["api.example.com:443@192.0.2.11"]},
        ),
        "Due date 2027-09-01 -> 2026-11-14.",
    )

    assert edited.due_date == DUE and edited.priority == "Highest"
    assert set(edited.labels) == {MARKER_LABEL, marker_label(cid)}
    assert edited.tracked_endpoints == ("api.example.com:443@192.0.2.11",)
    writes = [r for r in fake.requests_log[before:] if r.is_write]
    assert [(r.method, r.path.rsplit("/", 2)[-2:]) for r in writes] == [
        ("PUT", ["properties", "ticketbridge"]),
        ("PUT", ["issue", record.key]),
    ]
    assert [c.body for c in system.comments(record.key)] == ["Due date 2027-09-01 -> 2026-11-14."]


def test_assignee_is_an_account_id_on_cloud_and_a_name_on_data_center(
    fake: JiraFake, system: JiraTicketSystem
) -> None:
    who = "alice@example.com" if fake.is_cloud else "alice"
    created = system.create(new_ticket(assignee=who), "Filed.")
    assert fake.state.issues[created.key].assignee == "alice"
    assert created.assignee == ("Alice Admin" if fake.is_cloud else "alice")


def test_extra_fields_from_config_go_into_the_create() -> None:
    with JiraFake(flavour="datacenter", custom_fields={"customfield_10050": "Team"}) as fake:
        settings = settings_for(fake, extra_fields={"customfield_10050": "platform"})
        with JiraTicketSystem(settings, sleep=Sleeps()) as system:
            created = system.create(new_ticket(), "Filed.")
        assert fake.state.issues[created.key].custom == {"customfield_10050": "platform"}


def test_transitions_found_by_category_when_names_differ(sleeps: Sleeps) -> None:
    workflow = default_transitions(done="Resolve Issue", reopen="Back to the queue")
    with (
        JiraFake(flavour="cloud", transitions=workflow) as fake,
        JiraTicketSystem(settings_for(fake), sleep=sleeps) as system,
    ):
        created = system.create(new_ticket(), "Filed.")
        closed = system.transition(created.key, "done", "Renewed everywhere.")
        assert closed.status_category == "done"
        assert fake.state.issues[created.key].resolution == "Done"
        reopened = system.transition(created.key, "reopen", "192.0.2.12 still old.")
        assert reopened.is_open and fake.state.issues[created.key].resolution is None
        assert [c.body for c in system.comments(created.key)][-2:] == [
            "Renewed everywhere.",
            "192.0.2.12 still old.",
        ]


# -- search ---------------------------------------------------------------------------------------


def test_cloud_never_calls_the_removed_search(fake: JiraFake, system: JiraTicketSystem) -> None:
    created = system.create(new_ticket(), "Filed.")
    system.open_tickets()
    system.find_by_marker(created.labels[-1][3:])
    statuses = {r.status for r in fake.requests_log}
    assert 410 not in statuses
    search_paths = {r.path for r in fake.requests_log if r.is_search}
    if fake.is_cloud:
        assert search_paths == {"/rest/api/3/search/jql"}
    else:
        assert search_paths == {"/rest/api/2/search"}


def test_pagination_reads_every_page(
    fake: JiraFake, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jira_search, "DATACENTER_PAGE", 100)
    for number in range(250):
        fake.seed_issue(f"Hand-filed {number}")
    with JiraTicketSystem(settings_for(fake), sleep=sleeps) as system:
        tickets = system.open_tickets()
    assert len({t.key for t in tickets}) == 250
    assert len([r for r in fake.requests_log if r.is_search]) == 3


def test_open_tickets_include_recently_closed_marker_tickets_only(
    fake: JiraFake, system: JiraTicketSystem
) -> None:
    cid = secrets.token_hex(8)
    now = dt.datetime.now(dt.UTC)
    marked = fake.seed_issue("A", status="Done", labels=[MARKER_LABEL, marker_label(cid)])
    fake.seed_issue("B", status="Done", labels=[MARKER_LABEL])
    fake.seed_issue(
        "C",
        status="Done",
        labels=[MARKER_LABEL, marker_label(cid)],
        resolutiondate=now - dt.timedelta(days=40),
    )
    open_one = fake.seed_issue("D")

    assert {t.key for t in system.open_tickets()} == {marked.key, open_one.key}


def test_adopt_jql_is_used_with_its_order_by_removed(fake: JiraFake, sleeps: Sleeps) -> None:
    wanted = fake.seed_issue("Renew api", labels=["tls"])
    fake.seed_issue("Something else")
    settings = settings_for(fake, adopt_jql='project = OPS AND labels = "tls" ORDER BY created')
    with JiraTicketSystem(settings, sleep=sleeps) as system:
        assert [t.key for t in system.open_tickets()] == [wanted.key]


HOSTILE_IDS = ['a"b', "a\\b", 'x" OR labels is not EMPTY OR labels = "y', "tab\x01ctl", "ü*?{}"]


@pytest.mark.parametrize("cid", HOSTILE_IDS)
def test_hostile_marker_values_are_escaped(
    fake: JiraFake, system: JiraTicketSystem, cid: str
) -> None:
    other = system.create(new_ticket(), "Another certificate.")
    if " " in cid:
        # Not a valid label: nothing can be created with it, and a search for it finds nothing.
        assert list(system.find_by_marker(cid)) == []
        assert other.key in fake.state.issues
        return
    created = system.create(new_ticket(cid), "Filed.")
    assert [t.key for t in system.find_by_marker(cid)] == [created.key]
    assert all(r.status != 400 for r in fake.requests_log)


@given(st.text(max_size=40))
def test_jql_quote_round_trips_through_the_jql_tokenizer(value: str) -> None:
    tokens = jql.tokenize(f"labels = {jql_quote(value)}")
    assert [(t.kind, t.value) for t in tokens[2:]] == [("STRING", value), ("EOF", "")]


def test_strip_order_by_ignores_quoted_text() -> None:
    assert strip_order_by('summary ~ "order by x" ORDER BY key') == 'summary ~ "order by x"'
    assert strip_order_by("project = OPS order  by created DESC") == "project = OPS"
    assert strip_order_by("project = BORDER") == "project = BORDER"


@given(st.text(max_size=60))
def test_noformat_wrapping_is_reversible(text: str) -> None:
    wrapped = wrap_noformat(text)
    assert wrapped.lower().count("{noformat}") == 2
    assert unwrap_noformat(wrapped) == text


# -- failures -------------------------------------------------------------------------------------


def test_bad_token_is_permanent_and_never_shows_the_token(fake: JiraFake, sleeps: Sleeps) -> None:
    token = "s3cr3t-token-value"
    settings = settings_for(fake, token=token)
    with JiraTicketSystem(settings, sleep=sleeps) as system:
        with pytest.raises(PermanentBackendError) as caught:
            system.open_tickets()
        assert "401" in str(caught.value)
        rendered = "".join(traceback.format_exception(caught.value))
        assert token not in rendered and token not in repr(system)
        assert sleeps.calls == []  # a 401 is not retried


def test_429_retry_after_is_honoured(fake: JiraFake, system: JiraTicketSystem) -> None:
    fake.faults.add(FaultRule(effect=429, path=r"/search", retry_after=7))
    sleeps: Sleeps = system._sleep  # type: ignore[assignment]
    system.open_tickets()
    assert len(sleeps.calls) == 1 and 7 <= sleeps.calls[0] <= 7.7


def test_429_with_an_http_date_or_rate_limit_reset(fake: JiraFake, sleeps: Sleeps) -> None:
    now = dt.datetime(2026, 11, 26, 21, 30, tzinfo=dt.UTC)
    fake.faults.add(
        FaultRule(effect=429, path=r"/search", retry_after=now + dt.timedelta(seconds=20))
    )
    fake.faults.add(
        FaultRule(effect=429, path=r"/search", rate_limit_reset=now + dt.timedelta(seconds=30))
    )
    with JiraTicketSystem(settings_for(fake), clock=lambda: now, sleep=sleeps) as system:
        system.open_tickets()
    assert [round(s) for s in sleeps.calls] == [pytest.approx(21, abs=2), pytest.approx(31, abs=3)]


def test_a_server_asking_for_too_long_a_pause_fails_the_call(
    fake: JiraFake, sleeps: Sleeps
) -> None:
    fake.faults.add(FaultRule(effect=429, path=r"/search", retry_after=3600))
    with (
        JiraTicketSystem(settings_for(fake), sleep=sleeps) as system,
        pytest.raises(TransientBackendError, match="429"),
    ):
        system.open_tickets()
    assert sleeps.calls == []


@pytest.mark.parametrize("effect", [500, 503, "drop"])
def test_ambiguous_create_is_never_resent_blindly(
    fake: JiraFake, system: JiraTicketSystem, effect: int | str
) -> None:
    fake.faults.add(FaultRule(effect=effect, method="POST", path=r"/issue$", when="after"))
    cid = secrets.token_hex(8)
    created = system.create(new_ticket(cid), "Filed.")
    assert issues_with(fake, marker_label(cid)) == [created.key]
    assert [c.body for c in system.comments(created.key)] == ["Filed."]


def test_an_ambiguous_create_failure_is_never_sent_again_in_the_run(
    fake: JiraFake, system: JiraTicketSystem
) -> None:
    """Issue 14: a 503 may come after the write landed (the client cannot tell); with a
    lagging index the marker search cannot rule it out, so the create is not re-sent: it
    stays an open intent for a later run (tests/integration/test_jira_index_lag.py)."""
    fake.faults.add(FaultRule(effect=503, method="POST", path=r"/issue$", when="before"))
    cid = secrets.token_hex(8)
    with pytest.raises(WriteOutcomeUnknown, match="not sent again"):
        system.create(new_ticket(cid), "Filed.")
    assert issues_with(fake, marker_label(cid)) == []
    assert len(fake.requests("POST", "/issue")) == 1


def test_ambiguous_create_on_a_lagging_cloud_index_still_adopts(sleeps: Sleeps) -> None:
    with JiraFake(flavour="cloud", search_lag=2) as fake:
        fake.faults.add(FaultRule(effect="drop", method="POST", path=r"/issue$", when="after"))
        with JiraTicketSystem(settings_for(fake), sleep=sleeps) as system:
            cid = secrets.token_hex(8)
            created = system.create(new_ticket(cid), "Filed.")
        assert issues_with(fake, marker_label(cid)) == [created.key]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("path", [r"/comment$", r"/issue/OPS-\d+$", r"/transitions$"])
def test_lost_answers_to_comments_edits_and_transitions_write_once(
    fake: JiraFake, system: JiraTicketSystem, when: str, path: str
) -> None:
    created = system.create(new_ticket(), "Filed.")
    method = "PUT" if path.startswith(r"/issue") else "POST"
    fake.faults.add(FaultRule(effect=500, method=method, path=path, when=when))
    system.add_comment(created.key, "Still expiring.")
    system.edit(created.key, TicketEdit(due_date=dt.date(2026, 11, 1)), "Earlier.")
    system.transition(created.key, "done", "Renewed.")
    assert [c.body for c in system.comments(created.key)] == [
        "Filed.",
        "Still expiring.",
        "Earlier.",
        "Renewed.",
    ]
    assert fake.state.issues[created.key].duedate == dt.date(2026, 11, 1)
    assert fake.state.issues[created.key].status == "Done"


def test_a_server_without_issue_properties_still_works(sleeps: Sleeps) -> None:
    with JiraFake(flavour="datacenter", properties_supported=False) as fake:
        with JiraTicketSystem(settings_for(fake), sleep=sleeps) as system:
            cid = secrets.token_hex(8)
            created = system.create(new_ticket(cid), "Filed.")
            edited = system.edit(
                created.key, TicketEdit(evidence={"endpoints": ["x:443@192.0.2.1"]}), "Moved."
            )
            assert edited.tracked_endpoints == ()
            assert [t.key for t in system.find_by_marker(cid)] == [created.key]
            with pytest.raises(PermanentBackendError):
                system.edit("OPS-999", TicketEdit(evidence={"endpoints": []}), "Nothing there.")
        # Learnt once: the second write did not try the property again.
        assert len([r for r in fake.requests_log if "/properties/" in r.path]) == 1


def test_cloud_search_lag_is_read_after_write(sleeps: Sleeps) -> None:
    with JiraFake(flavour="cloud", search_lag=5) as fake:
        hand_filed = fake.seed_issue("Renew *.example.com", duedate=dt.date(2027, 9, 1))
        with JiraTicketSystem(settings_for(fake), sleep=sleeps) as system:
            cid, adopted = secrets.token_hex(8), secrets.token_hex(8)
            created = system.create(new_ticket(cid), "Filed.")
            assert [t.key for t in system.find_by_marker(cid)] == [created.key]
            system.edit(
                hand_filed.key,
                TicketEdit(due_date=DUE, add_labels=(MARKER_LABEL, marker_label(adopted))),
                "Adopted.",
            )
            assert [t.key for t in system.find_by_marker(adopted)] == [hand_filed.key]
            listed = {t.key: t for t in system.open_tickets()}
            assert listed[hand_filed.key].due_date == DUE
            assert created.key in listed


def test_requests_are_paced(fake: JiraFake) -> None:
    moments = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        moments.append(moments[-1] + dt.timedelta(seconds=seconds))

    settings = settings_for(fake, requests_per_second=2)
    with JiraTicketSystem(settings, clock=lambda: moments[-1], sleep=sleep) as system:
        for _ in range(6):
            system.open_tickets()
    requests_made = len(fake.requests_log)
    # Two may go at once (the burst); every other one waits its half second.
    assert sum(sleeps) == pytest.approx((requests_made - 2) * 0.5)


# -- configuration and TLS ------------------------------------------------------------------------


def test_settings_are_checked_up_front(fake: JiraFake) -> None:
    with pytest.raises(ConfigError, match=r"jira\.token"):
        JiraTicketSystem(settings_for(fake, token=""))
    with pytest.raises(ConfigError, match=r"jira\.labels"):
        JiraTicketSystem(settings_for(fake, labels=["two words"]))
    with pytest.raises(ConfigError, match=r"jira\.url"):
        JiraTicketSystem(settings_for(fake, url="ftp://jira"))


def test_private_ca_bundle(tmp_path: Path, sleeps: Sleeps) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    with JiraFake(flavour="datacenter", tls=server_context) as fake:
        policy = RetryPolicy(max_attempts=1)
        with (
            JiraTicketSystem(settings_for(fake), sleep=sleeps, retry_policy=policy) as untrusting,
            pytest.raises(PermanentBackendError, match="TLS"),
        ):
            untrusting.open_tickets()
        with JiraTicketSystem(settings_for(fake, ca_bundle=str(bundle)), sleep=sleeps) as system:
            created = system.create(new_ticket(), "Filed over TLS.")
            assert created.key in fake.state.issues
