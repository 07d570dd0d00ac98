"""On-call sinks behind the Pager protocol: PagerDuty Events API v2 and signed webhooks."""

from __future__ import annotations

from collections.abc import Sequence

from ticketbridge.alerts.http import HttpSink, PagerDutySink, WebhookSink
from ticketbridge.core.plan import PageEvent
from ticketbridge.errors import PagerError


class FanOutPager:
    """Sends each event to every sink; the event is delivered only if every sink took it.

    Sinks deduplicate on `dedup_key` (PagerDuty does; webhook receivers are told to), so a
    retry after a partial failure re-sends to the sinks that already had it, harmlessly.
    """

    def __init__(self, sinks: Sequence[HttpSink]) -> None:
        self.sinks = tuple(sinks)

    def send(self, event: PageEvent) -> None:
        failures = []
        for sink in self.sinks:
            try:
                sink.send(event)
            except PagerError as exc:
                failures.append(str(exc))
        if failures:
            raise PagerError("; ".join(failures))


__all__ = ["FanOutPager", "HttpSink", "PagerDutySink", "WebhookSink"]
