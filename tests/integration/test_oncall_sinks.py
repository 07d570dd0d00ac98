"""Opsgenie and Slack sinks against local receivers that enforce the vendors' documented formats."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.oncall_receivers import Answer, OpsgenieReceiver, SlackReceiver, serving
from support.pages import CERTIFICATE, TRIGGER
from ticketbridge.alerts import DeliveryLedger, FanOutPager, OpsgenieSink, SlackSink
from ticketbridge.alerts.opsgenie import EU_API, US_API
from ticketbridge.core.plan import PageEvent
from ticketbridge.errors import PagerError

KEY = "genie-key-for-tests"
RESOLVE = PageEvent(
    event="resolve",
    dedup_key=CERTIFICATE.id,
    summary="*.example.com renewed: live on every endpoint",
    certificate=CERTIFICATE,
    ticket="OPS-12",
    ticket_url="https://jira.example.com/browse/OPS-12",
)


@pytest.fixture
def opsgenie() -> Iterator[OpsgenieReceiver]:
    with serving(OpsgenieReceiver(api_key=KEY), host="127.0.0.9") as receiver:
        yield receiver


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    with serving(receiver, host="127.0.0.10") as running:
        yield running


def _opsgenie(receiver: OpsgenieReceiver, key: str = KEY) -> OpsgenieSink:
    return OpsgenieSink(url=receiver.url, api_key=key, first_wait=0.01, max_seconds=5)


def _slack(receiver: SlackReceiver) -> SlackSink:
    return SlackSink(url=receiver.url + receiver.hook_path, first_wait=0.01, max_seconds=5)


def _soon(days: float) -> PageEvent:
    expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return replace(TRIGGER, certificate=replace(CERTIFICATE, effective_not_after=expiry))


def test_opsgenie_trigger_is_the_documented_create_alert_request(
    opsgenie: OpsgenieReceiver,
) -> None:
    _opsgenie(opsgenie).send(TRIGGER)
    ((path, headers, body),) = opsgenie.requests
    assert (path, headers["authorization"]) == ("/v2/alerts", f"GenieKey {KEY}")
    document = json.loads(body)
    description = document.pop("description")
    assert document == {
        "message": TRIGGER.summary,
        "alias": "0123456789abcdef",
        "details": {
            "certificate_id": "0123456789abcdef",
            "names": "*.example.com, example.com",
            "effective_not_after": "2026-12-05T21:44:22Z",
            "endpoints": "api.example.com:443@192.0.2.11",
            "endpoint_count": "1",
            "ticket": "OPS-12",
            "ticket_url": "https://jira.example.com/browse/OPS-12",
        },
        "entity": "*.example.com, example.com",
        "source": "ticketbridge",
        "tags": ["ticketbridge", "tls-expiry"],
        "priority": "P1",  # the expiry (2026-12-05) is past or within a day of the test's now
    }
    for evidence in ("api.example.com:443@192.0.2.11", "ab" * 32, "OPS-12", "Renew"):
        assert evidence in description
    assert opsgenie.refused == []
    assert opsgenie.alerts["0123456789abcdef"]["status"] == "open"


def test_opsgenie_priority_follows_urgency(opsgenie: OpsgenieReceiver) -> None:
    _opsgenie(opsgenie).send(_soon(2.5))
    assert opsgenie.alerts[CERTIFICATE.id]["request"]["priority"] == "P2"
    opsgenie.alerts.clear()
    _opsgenie(opsgenie).send(_soon(0.5))
    assert opsgenie.alerts[CERTIFICATE.id]["request"]["priority"] == "P1"


def test_opsgenie_resolve_closes_the_alert_by_alias(opsgenie: OpsgenieReceiver) -> None:
    sink = _opsgenie(opsgenie)
    sink.send(TRIGGER)
    sink.send(RESOLVE)
    assert opsgenie.requests[1][0] == "/v2/alerts/0123456789abcdef/close?identifierType=alias"
    alert = opsgenie.alerts[CERTIFICATE.id]
    assert alert["status"] == "closed"
    assert alert["close"] == {"source": "ticketbridge", "note": RESOLVE.summary}
    assert opsgenie.refused == []


def test_opsgenie_us_and_eu_instances() -> None:
    assert OpsgenieSink(api_key=KEY).target(TRIGGER) == "https://api.opsgenie.com/v2/alerts"
    eu = OpsgenieSink(url=EU_API + "/", api_key=KEY)
    assert eu.target(TRIGGER) == "https://api.eu.opsgenie.com/v2/alerts"
    assert eu.target(RESOLVE) == (
        "https://api.eu.opsgenie.com/v2/alerts/0123456789abcdef/close?identifierType=alias"
    )
    assert US_API == "https://api.opsgenie.com"


def test_opsgenie_wrong_key_is_refused_not_retried(opsgenie: OpsgenieReceiver) -> None:
    with pytest.raises(PagerError, match="HTTP 401"):
        _opsgenie(opsgenie, key="wrong").send(TRIGGER)
    assert len(opsgenie.requests) == 1
    assert "wrong" not in str(opsgenie.refused)


def test_opsgenie_honours_retry_after(opsgenie: OpsgenieReceiver) -> None:
    opsgenie.faults.append(Answer(429, {"Retry-After": "1"}))
    started = time.monotonic()
    _opsgenie(opsgenie).send(TRIGGER)
    assert time.monotonic() - started >= 0.9
    assert len(opsgenie.requests) == 2
    assert opsgenie.alerts[CERTIFICATE.id]["count"] == 1


def test_a_redirect_is_refused_never_followed(opsgenie: OpsgenieReceiver) -> None:
    opsgenie.faults.append(Answer(307, {"Location": "http://127.0.0.11:9/v2/alerts"}))
    with pytest.raises(PagerError, match="redirect"):
        _opsgenie(opsgenie).send(TRIGGER)
    assert len(opsgenie.requests) == 1


def _huge() -> PageEvent:
    names = tuple(f"host-{i}.<!channel>&example.com" for i in range(400))
    endpoints = tuple(f"host-{i}.example.com:443@10.0.{i // 250}.{i % 250}" for i in range(5000))
    certificate = replace(CERTIFICATE, names=names, endpoints=endpoints)
    summary = f"{names[0]} (and {len(names) - 1} more) expires 2026-12-05T21:44:22Z (in 2 days)"
    return replace(TRIGGER, certificate=certificate, summary=summary * 40)


def test_both_sinks_stay_within_every_documented_limit(
    opsgenie: OpsgenieReceiver, slack: SlackReceiver
) -> None:
    event = _huge()
    _opsgenie(opsgenie).send(event)
    _slack(slack).send(event)
    assert opsgenie.refused == [] and slack.refused == []
    assert len(slack.messages) == 1 and len(opsgenie.alerts) == 1


def test_slack_trigger_says_what_when_where_ticket_and_what_to_do(slack: SlackReceiver) -> None:
    _slack(slack).send(TRIGGER)
    ((message,),) = [slack.messages]
    assert message["text"] == TRIGGER.summary
    header, summary, facts, endpoints, todo = message["blocks"]
    assert header["text"]["text"] == "TLS certificate expiring: *.example.com, example.com"
    assert summary["text"]["text"] == TRIGGER.summary
    assert [field["text"] for field in facts["fields"]] == [
        "*Expires*\n2026-12-05T21:44:22Z",
        "*Ticket*\n<https://jira.example.com/browse/OPS-12|OPS-12>",
        "*Certificate id*\n`0123456789abcdef`",
        "*Endpoints*\n1",
    ]
    assert "`api.example.com:443@192.0.2.11`" in endpoints["text"]["text"]
    assert todo["text"]["text"].startswith("*What to do*\nRenew the certificate")
    assert slack.refused == []


def test_slack_resolve_is_a_follow_up_message(slack: SlackReceiver) -> None:
    sink = _slack(slack)
    sink.send(TRIGGER)
    sink.send(RESOLVE)
    assert len(slack.messages) == 2
    follow_up = slack.messages[1]
    assert follow_up["blocks"][0]["text"]["text"].startswith("TLS certificate renewed")
    assert (
        "<https://jira.example.com/browse/OPS-12|OPS-12>" in follow_up["blocks"][1]["text"]["text"]
    )


def test_slack_mentions_in_names_are_made_inert(slack: SlackReceiver) -> None:
    event = replace(TRIGGER, summary="<!channel> & <@U123> expires soon")
    _slack(slack).send(event)
    assert slack.messages[0]["blocks"][1]["text"]["text"] == (
        "&lt;!channel&gt; &amp; &lt;@U123&gt; expires soon"
    )


def test_slack_webhook_url_is_never_printed(slack: SlackReceiver) -> None:
    slack.faults.append(Answer(404, {}, b"no_service"))
    sink = _slack(slack)
    with pytest.raises(PagerError) as raised:
        sink.send(TRIGGER)
    assert slack.hook_path not in str(raised.value)
    assert slack.hook_path not in repr(sink)


def test_a_page_delivered_is_not_repeated_when_another_sink_was_down(
    tmp_path: Path, opsgenie: OpsgenieReceiver, slack: SlackReceiver
) -> None:
    ledger_path = tmp_path / "alerts.json"
    opsgenie.faults.extend(Answer(503) for _ in range(3))
    first_run = FanOutPager(
        [_slack(slack), replace(_opsgenie(opsgenie), attempts=3)], DeliveryLedger(ledger_path)
    )
    with pytest.raises(PagerError, match="HTTP 503"):
        first_run.send(TRIGGER)
    assert len(slack.messages) == 1 and opsgenie.alerts == {}
    # The next run (a new process: a new ledger read from the file) pages Opsgenie only.
    next_run = FanOutPager([_slack(slack), _opsgenie(opsgenie)], DeliveryLedger(ledger_path))
    next_run.send(TRIGGER)
    assert len(slack.messages) == 1
    assert opsgenie.alerts[CERTIFICATE.id]["status"] == "open"
    # The resolve is a new event: both sinks get it, once.
    next_run.send(RESOLVE)
    next_run.send(RESOLVE)
    assert len(slack.messages) == 2
    assert opsgenie.alerts[CERTIFICATE.id]["status"] == "closed"


def test_a_new_ticket_for_the_same_certificate_pages_again(
    tmp_path: Path, slack: SlackReceiver
) -> None:
    pager = FanOutPager([_slack(slack)], DeliveryLedger(tmp_path / "alerts.json"))
    pager.send(TRIGGER)
    pager.send(TRIGGER.for_ticket("OPS-99", None))
    pager.send(replace(TRIGGER, ticket="OPS-99"))
    assert len(slack.messages) == 2


def test_an_unreadable_ledger_pages_rather_than_stays_silent(
    tmp_path: Path, slack: SlackReceiver
) -> None:
    ledger_path = tmp_path / "alerts.json"
    ledger_path.write_text("{not json")
    FanOutPager([_slack(slack)], DeliveryLedger(ledger_path)).send(TRIGGER)
    assert len(slack.messages) == 1
    assert json.loads(ledger_path.read_text())["version"] == 1


def test_an_echoed_key_never_reaches_the_error(opsgenie: OpsgenieReceiver) -> None:
    echo = f'{{"message": "bad key GenieKey {KEY}"}}'.encode()
    opsgenie.faults.append(Answer(422, {"Content-Type": "application/json"}, echo))
    with pytest.raises(PagerError, match="HTTP 422") as raised:
        _opsgenie(opsgenie).send(TRIGGER)
    assert KEY not in str(raised.value)


def test_slack_errors_say_what_slack_said(slack: SlackReceiver) -> None:
    slack.faults.append(Answer(410, {}, b"channel_is_archived"))
    with pytest.raises(PagerError, match="HTTP 410: channel_is_archived"):
        _slack(slack).send(TRIGGER)
    assert len(slack.requests) == 1  # a 4xx is not retried
