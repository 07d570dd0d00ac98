"""On-call sinks behind the Pager protocol: PagerDuty, Opsgenie, Slack and signed webhooks."""

from __future__ import annotations

from collections.abc import Sequence

from ticketbridge.alerts.http import HttpSink, PagerDutySink, WebhookSink
from ticketbridge.alerts.ledger import DeliveryLedger
from ticketbridge.alerts.opsgenie import OpsgenieSink
from ticketbridge.alerts.slack import SlackSink
from ticketbridge.core.plan import PageEvent
from ticketbridge.errors import PagerError


class FanOutPager:
    """Sends each event to every sink; the event is delivered only if every sink took it.

    With a ledger, a sink that already accepted this event (in this run or an earlier one) is
    skipped: after a partial failure only the sinks that did not take it are sent it again.
    Without one, sinks are relied on to deduplicate on `dedup_key` (PagerDuty and Opsgenie do;
    webhook receivers are told to; Slack does not).
    """

    def __init__(self, sinks: Sequence[HttpSink], ledger: DeliveryLedger | None = None) -> None:
        self.sinks = tuple(sinks)
        self.ledger = ledger

    def send(self, event: PageEvent) -> None:
        failures = []
        for sink in self.sinks:
            if self.ledger is not None and self.ledger.delivered(sink.identity, event):
                continue
            try:
                sink.send(event)
            except PagerError as exc:
                failures.append(str(exc))
                continue
            if self.ledger is not None:
                self.ledger.record(sink.identity, event)
        if failures:
            raise PagerError("; ".join(failures))


__all__ = [
    "DeliveryLedger",
    "FanOutPager",
    "HttpSink",
    "OpsgenieSink",
    "PagerDutySink",
    "SlackSink",
    "WebhookSink",
]
