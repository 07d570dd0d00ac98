"""Delivering page events over HTTP: PagerDuty Events API v2, and webhooks signed with HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from ticketbridge.core.plan import PageEvent
from ticketbridge.errors import PagerError

SIGNATURE_HEADER = "X-Ticketbridge-Signature"
_TIMEOUT = (5.0, 10.0)  # connect, read


class _Transient(Exception):
    """A delivery worth retrying: connection trouble, 429 or 5xx."""


@dataclass
class HttpSink:
    """POST one JSON document per event; retry what is transient, a few times, briefly."""

    url: str
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    attempts: int = 3
    max_seconds: float = 20.0
    first_wait: float = 0.5

    @property
    def name(self) -> str:
        return urlsplit(self.url).netloc or self.url

    def body(self, event: PageEvent) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def headers(self, payload: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": "ticketbridge"}

    def send(self, event: PageEvent) -> None:
        payload = json.dumps(self.body(event), ensure_ascii=False, separators=(",", ":")).encode()
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(_Transient),
                stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_seconds),
                wait=wait_exponential_jitter(
                    multiplier=self.first_wait, max=5, jitter=self.first_wait
                ),
                reraise=True,
            ):
                with attempt:
                    self._post(payload)
        except _Transient as exc:
            raise PagerError(f"{self.name}: {exc}") from exc

    def _post(self, payload: bytes) -> None:
        try:
            response = self.session.post(
                self.url, data=payload, headers=self.headers(payload), timeout=_TIMEOUT
            )
        except requests.RequestException as exc:
            raise _Transient(f"not delivered: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code >= 300:
            raise PagerError(f"{self.name}: refused with HTTP {response.status_code}")


@dataclass
class WebhookSink(HttpSink):
    """SPEC's webhook document, signed `sha256=<hex HMAC-SHA256 of the body>` when a secret is set."""

    secret: str = field(default="", repr=False)

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
