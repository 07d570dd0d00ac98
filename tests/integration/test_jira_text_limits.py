"""Text limits (issue 14): Cloud's bound on the ADF document as well as the text, and Data Center's
configurable limit (`jira.max_text_length`), against a local Jira that enforces each
(contract.BEHAVIOURS["TEXT_LIMIT"])."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.jirafake import JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket
from ticketbridge.errors import PermanentBackendError
from ticketbridge.infra.retrying import RetryPolicy
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.richtext import rich
from ticketbridge.tickets.jira.system import JiraTicketSystem

ONCE = RetryPolicy(max_attempts=1)
# 29,000 characters on short lines: ~72,000 characters once each line is an ADF node.
SHORT_LINES = "\n".join(f"- host{n:05}" for n in range(2_500))[:29_000]


def system_for(fake: JiraFake, **changes: Any) -> JiraTicketSystem:
    options = JiraOptions(
        url=fake.url,
        project="OPS",
        token=fake.token,
        email=fake.email,
        deployment=fake.flavour,  # type: ignore[arg-type]
        requests_per_second=1000,
        **changes,
    )
    return JiraTicketSystem(options, sleep=lambda seconds: None, retry_policy=ONCE)


def new_ticket(description: str) -> NewTicket:
    cid = secrets.token_hex(8)
    return NewTicket(
        summary="Renew app.example.com",
        description=description,
        due_date=dt.date(2026, 12, 1),
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid, "endpoints": ["app.example.com:443@192.0.2.10"]},
    )


def test_a_long_description_on_short_lines_fits_cloud_as_a_document() -> None:
    assert len(json.dumps(rich(SHORT_LINES, "d", True, limit=10**9))) > 70_000
    with JiraFake(flavour="cloud", limit_counts_adf=True) as fake, system_for(fake) as system:
        created = system.create(new_ticket(SHORT_LINES), "Filed.")
        description = fake.state.issues[created.key].description or ""
    assert description.endswith("… (truncated)")
    assert description.startswith("- host00000\n- host00001")


def test_a_comment_too_long_as_a_document_is_one_error_before_sending() -> None:
    with JiraFake(flavour="cloud", limit_counts_adf=True) as fake, system_for(fake) as system:
        created = system.create(new_ticket("Expires soon."), "Filed.")
        before = len(fake.requests_log)
        with pytest.raises(PermanentBackendError, match="as an Atlassian document, more than"):
            system.add_comment(created.key, SHORT_LINES)
        assert [r for r in fake.requests_log[before:] if r.is_write] == []


def test_data_center_honours_its_configured_text_limit() -> None:
    text = "x" * 15_000
    with (
        JiraFake(flavour="datacenter", text_limit=10_000) as fake,
        system_for(fake, max_text_length=10_000) as system,
    ):
        created = system.create(new_ticket(text), "Filed.")
        stored = fake.state.issues[created.key].description or ""
        with pytest.raises(PermanentBackendError, match="more than Jira's 10,000"):
            system.add_comment(created.key, text)
    assert len(stored) <= 10_000 and stored.endswith("… (truncated)\n{noformat}")


def test_a_larger_data_center_limit_is_used_in_full() -> None:
    text = "y" * 40_000
    with (
        JiraFake(flavour="datacenter", text_limit=100_000) as fake,
        system_for(fake, max_text_length=100_000) as system,
    ):
        created = system.create(new_ticket(text), "Filed.")
        system.add_comment(created.key, text)
        issue = fake.state.issues[created.key]
    assert "truncated" not in (issue.description or "")
    assert text in issue.comments[-1].body


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.text(max_size=30), min_size=1, max_size=400),
    cloud=st.booleans(),
    limit=st.integers(1_000, 5_000),
)
def test_a_cut_text_always_fits_its_limit(lines: list[str], cloud: bool, limit: int) -> None:
    text = "\n".join(lines) + "x"
    value = rich(text, "description", cloud, cut=True, limit=limit)
    size = len(value) if isinstance(value, str) else len(json.dumps(value, ensure_ascii=False))
    assert size <= limit
