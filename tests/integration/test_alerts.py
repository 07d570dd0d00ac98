"""On-call sinks against a real local HTTP receiver: SPEC's webhook document, HMAC, PagerDuty v2."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ticketbridge.alerts import FanOutPager, PagerDutySink, WebhookSink
from ticketbridge.core.plan import CertificateSummary, PageEvent
from ticketbridge.errors import PagerError

EXPIRY = datetime(2026, 12, 5, 21, 44, 22, tzinfo=UTC)
CERTIFICATE = CertificateSummary(
    id="0123456789abcdef",
    names=("*.example.com", "example.com"),
    effective_not_after=EXPIRY,
    fingerprints=("ab" * 32,),
    endpoints=("api.example.com:443@192.0.2.11",),
)
TRIGGER = PageEvent(
    event="trigger",
    dedup_key=CERTIFICATE.id,
    summary="*.example.com expires 2026-12-05T21:44:22Z (in 2 days); renewal ticket OPS-12",
    certificate=CERTIFICATE,
    ticket="OPS-12",
    ticket_url="https://jira.example.com/browse/OPS-12",
)


@dataclass
class Receiver:
    """Records every POST; answers with the next scripted status (then 202)."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append((dict(self.headers.items()), body))
            self.send_response(state.statuses.pop(0) if state.statuses else 202)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.8", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.8:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def test_webhook_posts_spec_document_signed_with_hmac(receiver: Receiver) -> None:
    WebhookSink(url=receiver.url, secret="s3cret").send(TRIGGER)
    ((headers, body),) = receiver.received
    document = json.loads(body)
    assert document == {
        "event": "trigger",
        "dedup_key": "0123456789abcdef",
        "severity": "critical",
        "summary": TRIGGER.summary,
        "certificate": {
            "id": "0123456789abcdef",
            "names": ["*.example.com", "example.com"],
            "effective_not_after": "2026-12-05T21:44:22Z",
            "fingerprints": ["ab" * 32],
            "endpoints": ["api.example.com:443@192.0.2.11"],
        },
        "ticket": "OPS-12",
        "ticket_url": "https://jira.example.com/browse/OPS-12",
    }
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Ticketbridge-Signature"] == f"sha256={expected}"


def test_unsigned_webhook_without_secret(receiver: Receiver) -> None:
    WebhookSink(url=receiver.url).send(TRIGGER)
    ((headers, _),) = receiver.received
    assert "X-Ticketbridge-Signature" not in headers


def test_pagerduty_events_v2_trigger_and_resolve(receiver: Receiver) -> None:
    sink = PagerDutySink(url=receiver.url, routing_key="R0UTING")
    sink.send(TRIGGER)
    sink.send(
        PageEvent(
            event="resolve", dedup_key=CERTIFICATE.id, summary="renewed", certificate=CERTIFICATE
        )
    )
    trigger, resolve = (json.loads(body) for _, body in receiver.received)
    assert trigger["routing_key"] == "R0UTING"
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == CERTIFICATE.id
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "ticketbridge"
    assert trigger["payload"]["summary"] == TRIGGER.summary
    assert trigger["links"] == [
        {"href": "https://jira.example.com/browse/OPS-12", "text": "OPS-12"}
    ]
    assert resolve == {
        "routing_key": "R0UTING",
        "event_action": "resolve",
        "dedup_key": CERTIFICATE.id,
    }


def test_transient_failures_are_retried_and_permanent_ones_reported(receiver: Receiver) -> None:
    receiver.statuses = [503, 429]
    WebhookSink(url=receiver.url, first_wait=0.01).send(TRIGGER)
    assert len(receiver.received) == 3

    receiver.received.clear()
    receiver.statuses = [400]
    with pytest.raises(PagerError, match="HTTP 400"):
        WebhookSink(url=receiver.url, first_wait=0.01).send(TRIGGER)
    assert len(receiver.received) == 1  # a refusal is not retried

    receiver.statuses = [500, 500, 500]
    with pytest.raises(PagerError, match="HTTP 500"):
        WebhookSink(url=receiver.url, first_wait=0.01).send(TRIGGER)


def test_fan_out_reaches_every_sink_and_reports_which_failed(receiver: Receiver) -> None:
    dead = WebhookSink(url="http://127.0.0.8:1/hook", first_wait=0.01, attempts=2)
    pager = FanOutPager([dead, WebhookSink(url=receiver.url)])
    with pytest.raises(PagerError, match=r"127\.0\.0\.8:1: not delivered"):
        pager.send(TRIGGER)
    assert len(receiver.received) == 1  # the live sink still got it
    assert "R0UTING" not in repr(PagerDutySink(url=receiver.url, routing_key="R0UTING"))
