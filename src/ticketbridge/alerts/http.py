"""Delivering page events over HTTP: PagerDuty Events API v2, and webhooks signed with HMAC."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ticketbridge.alerts.transport import Answer, DeadlineExceeded, Refused, UnusableURL, post
from ticketbridge.core.plan import PageEvent
from ticketbridge.errors import PagerError
from ticketbridge.infra.clock import utcnow
from ticketbridge.infra.retrying import Failure, Retrier, RetryPolicy, Safety, parse_retry_after
from ticketbridge.infra.scrub import outside_detail, register_secret

SIGNATURE_HEADER = "X-Ticketbridge-Signature"

log = logging.getLogger(__name__)


class _NotDelivered(PagerError):
    """One failed attempt, with what the retry policy needs to know about it."""

    def __init__(self, message: str, failure: Failure) -> None:
        super().__init__(message)
        self.failure = failure


def _classify(exc: BaseException) -> Failure | None:
    return exc.failure if isinstance(exc, _NotDelivered) else None


@dataclass
class HttpSink:
    """POST one JSON document per event; a page is delivered only by a 2xx answer to that POST.

    Every attempt has a wall-clock deadline (`timeout`); transient failures are retried under
    the one retry policy (`infra.retrying`), within `max_seconds` in all. A send therefore
    ends within `max_seconds + timeout`, whatever the receiver does.
    """

    url: str
    attempts: int = 3
    max_seconds: float = 20.0
    first_wait: float = 0.5
    timeout: float = 10.0  # per attempt, connection to last byte
    connect_timeout: float = 5.0
    context: ssl.SSLContext | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        # host:port without any `user:password@`: the name appears in every error and log line.
        return outside_detail(urlsplit(self.url).netloc.rpartition("@")[2] or "sink", 100)

    def body(self, event: PageEvent) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def headers(self, payload: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": "ticketbridge"}

    def target(self, event: PageEvent) -> str:
        """Where this event is POSTed: one URL for every event, unless the vendor's API differs."""
        return self.url

    @property
    def identity(self) -> str:
        """A stable name for this sink across runs (kind and a digest of its URL, no secret)."""
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return f"{type(self).__name__}:{digest}"

    def send(self, event: PageEvent) -> None:
        payload = json.dumps(self.body(event), ensure_ascii=False, separators=(",", ":")).encode()
        policy = RetryPolicy(
            max_attempts=self.attempts,
            max_elapsed=self.max_seconds,
            base_delay=self.first_wait,
            max_delay=5.0,
            # A receiver asking for a longer pause than the whole budget is not waited for: the
            # page stays undelivered and the next run sends it again.
            max_retry_after=self.max_seconds,
        )
        # A repeated page is harmless: PagerDuty applies events with the same dedup_key to the
        # one open alert (Events API v2, "Alert De-Duplication"), and webhook receivers are told
        # to deduplicate on it (SPEC). Sending again after a lost answer is therefore allowed.
        retrier = Retrier(policy, _classify)
        url = self.target(event)
        retrier.call(lambda: self._post(url, payload), safety=Safety.IDEMPOTENT, what=self.name)

    def _post(self, url: str, payload: bytes) -> None:
        try:
            answer = post(
                url,
                payload,
                self.headers(payload),
                deadline=self.timeout,
                connect_timeout=self.connect_timeout,
                context=self.context,
            )
        except UnusableURL as exc:
            raise PagerError(f"{self.name}: {exc}") from None
        except Refused as exc:
            raise _NotDelivered(
                f"{self.name}: not delivered: {exc}", Failure(retryable=True, delivered=False)
            ) from None
        except DeadlineExceeded as exc:
            raise _NotDelivered(f"{self.name}: not delivered: {exc}", Failure(True)) from None
        except (OSError, http.client.HTTPException) as exc:
            # A broken answer (reset, bad status line, TLS failure): the page may or may not
            # have arrived; it is not counted, and sending again is harmless (see `send`).
            reason = outside_detail(str(exc), 100) or "no detail"
            raise _NotDelivered(
                f"{self.name}: not delivered: {type(exc).__name__}: {reason}", Failure(True)
            ) from None
        _judge(self.name, answer)


def _judge(name: str, answer: Answer) -> None:
    """Raise unless the answer is a 2xx; what is worth retrying follows PagerDuty's table.

    Events API v2 overview, "Response Codes & Retry Logic": 202 accepted; 400 do not retry;
    429 and 5xx retry after some time. A 3xx is refused, never followed: RFC 9110 §15.4 lets a
    client follow it, but 301/302 turn the POST into a GET without the page (§15.4.2-3) and
    307/308 re-send it to a host nobody configured.
    """
    status = answer.status
    if 200 <= status < 300:
        return
    said = f": {answer.detail}" if answer.detail else ""
    if 300 <= status < 400:
        raise PagerError(f"{name}: refused to follow a redirect (HTTP {status}); not delivered")
    if status == 429 or status >= 500:
        wait = parse_retry_after(answer.headers, utcnow())
        raise _NotDelivered(
            f"{name}: HTTP {status}{said}", Failure(retryable=True, retry_after=wait)
        )
    raise PagerError(f"{name}: refused with HTTP {status}{said}")


@dataclass
class WebhookSink(HttpSink):
    """SPEC's webhook document, signed `sha256=<hex HMAC-SHA256 of the body>` when a secret is set."""

    secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        register_secret(self.secret)  # a receiver echoing its input must not print it

    def body(self, event: PageEvent) -> dict[str, Any]:
        return event.as_dict()

    def headers(self, payload: bytes) -> dict[str, str]:
        headers = super().headers(payload)
        if self.secret:
            digest = hmac.new(self.secret.encode(), payload, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        return headers


@dataclass
class PagerDutySink(HttpSink):
    """PagerDuty Events API v2: trigger and resolve, deduplicated by the certificate id."""

    routing_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        register_secret(self.routing_key)  # it is in every body; an error may echo the body

    def body(self, event: PageEvent) -> dict[str, Any]:
        document: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": event.event,
            "dedup_key": event.dedup_key,
        }
        if event.event == "trigger":
            details = event.as_dict()
            document["payload"] = {
                "summary": event.summary[:1024],
                "source": "ticketbridge",
                "severity": event.severity,
                "component": ", ".join(event.certificate.names)[:255],
                "custom_details": {
                    "certificate": details["certificate"],
                    "ticket": event.ticket,
                },
            }
            if event.ticket_url:
                document["links"] = [{"href": event.ticket_url, "text": event.ticket or "ticket"}]
        return document
