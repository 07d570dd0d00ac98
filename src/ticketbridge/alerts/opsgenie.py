"""Opsgenie Alert API v2: create an alert per certificate (alias = certificate id), close it on renewal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from ticketbridge.alerts.http import HttpSink
from ticketbridge.core.plan import PageEvent
from ticketbridge.core.timefmt import iso_z
from ticketbridge.infra.clock import utcnow
from ticketbridge.infra.scrub import register_secret

US_API = "https://api.opsgenie.com"
EU_API = "https://api.eu.opsgenie.com"

# Field limits from the Alert API's "Create Alert" table (docs.opsgenie.com/docs/alert-api):
# message 130, alias 512, description 15000, entity 512, source 100, tags 20 x 50 characters,
# details 8000 characters in all; "Close Alert": note 25000.
MESSAGE_LIMIT = 130
DESCRIPTION_LIMIT = 15000
ENTITY_LIMIT = 512
DETAILS_LIMIT = 8000
DETAIL_VALUE_LIMIT = 1000  # each value, so that several always fit in DETAILS_LIMIT
MAX_ENDPOINTS_LISTED = 200


def clipped(text: str, limit: int) -> str:
    """`text` within `limit` characters, marked with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def priority_for(event: PageEvent) -> str:
    """P1 once expired or within a day, else P2: pages are only sent inside the paging window."""
    expiry = event.certificate.effective_not_after
    if expiry is None:  # never planned so; if it were, the unknown is treated as urgent
        return "P1"
    return "P1" if expiry - utcnow() <= timedelta(days=1) else "P2"


def expiry_text(event: PageEvent) -> str:
    expiry = event.certificate.effective_not_after
    return iso_z(expiry) if expiry is not None else "unknown"


def what_to_do(event: PageEvent) -> str:
    ticket = f" ({event.ticket_url})" if event.ticket_url else ""
    if event.ticket:
        return f"Renew the certificate and deploy it to every endpoint listed; ticket {event.ticket}{ticket}."
    return "Renew the certificate and deploy it to every endpoint listed."


def description_of(event: PageEvent) -> str:
    certificate = event.certificate
    endpoints = list(certificate.endpoints[:MAX_ENDPOINTS_LISTED])
    more = len(certificate.endpoints) - len(endpoints)
    if more > 0:
        endpoints.append(f"… and {more} more")
    lines = [
        event.summary,
        "",
        f"Certificate id: {certificate.id}",
        f"Names: {', '.join(certificate.names)}",
        f"Effective expiry: {expiry_text(event)}",
        f"Fingerprints (SHA-256): {', '.join(certificate.fingerprints)}",
        "Endpoints serving it:",
        *(f"  {endpoint}" for endpoint in endpoints),
        "",
        what_to_do(event),
    ]
    return clipped("\n".join(lines), DESCRIPTION_LIMIT)


def details_of(event: PageEvent) -> dict[str, str]:
    certificate = event.certificate
    details = {
        "certificate_id": certificate.id,
        "names": ", ".join(certificate.names),
        "effective_not_after": expiry_text(event),
        "endpoints": ", ".join(certificate.endpoints),
        "endpoint_count": str(len(certificate.endpoints)),
    }
    if event.ticket:
        details["ticket"] = event.ticket
    if event.ticket_url:
        details["ticket_url"] = event.ticket_url
    return {key: clipped(value, DETAIL_VALUE_LIMIT) for key, value in details.items()}


@dataclass
class OpsgenieSink(HttpSink):
    """`url` is the API's base (US or EU); triggers create, resolves close by alias.

    Opsgenie keeps one open alert per alias ("alias ... there can be only one alert with open
    status with the same alias"): a repeated create only raises its count, and closing a
    closed alert is accepted, so sending again after a lost answer is harmless.
    """

    url: str = US_API
    api_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        register_secret(self.api_key)  # in every request's header; an echo must not print it

    def target(self, event: PageEvent) -> str:
        base = self.url.rstrip("/")
        if event.event == "resolve":
            alias = quote(event.dedup_key, safe="")
            return f"{base}/v2/alerts/{alias}/close?identifierType=alias"
        return f"{base}/v2/alerts"

    def headers(self, payload: bytes) -> dict[str, str]:
        headers = super().headers(payload)
        headers["Authorization"] = f"GenieKey {self.api_key}"
        return headers

    def body(self, event: PageEvent) -> dict[str, Any]:
        if event.event == "resolve":
            return {"source": "ticketbridge", "note": clipped(event.summary, 25000)}
        return {
            "message": clipped(event.summary, MESSAGE_LIMIT),
            "alias": event.dedup_key,
            "description": description_of(event),
            "details": details_of(event),
            "entity": clipped(", ".join(event.certificate.names), ENTITY_LIMIT),
            "source": "ticketbridge",
            "tags": ["ticketbridge", "tls-expiry"],
            "priority": priority_for(event),
        }
