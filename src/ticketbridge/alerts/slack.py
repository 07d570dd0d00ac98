"""Slack incoming webhooks: a Block Kit message per page, and a follow-up when the renewal is live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ticketbridge.alerts.http import HttpSink
from ticketbridge.alerts.opsgenie import clipped, expiry_text, what_to_do
from ticketbridge.core.plan import PageEvent
from ticketbridge.infra.scrub import register_secret

# Block Kit limits (docs.slack.dev/reference/block-kit/blocks): header text 150 characters;
# section text 3000; section fields at most 10, each 2000; at most 50 blocks per message.
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_ENDPOINTS_LISTED = 40


def mrkdwn_escaped(text: str) -> str:
    """Outside text made inert in mrkdwn: Slack reads `<`, `>` and `&` as control characters
    (docs.slack.dev, "Formatting text for app surfaces", "Escaping text")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(event: PageEvent) -> str:
    if not event.ticket:
        return "no ticket yet"
    ticket = mrkdwn_escaped(event.ticket)
    if not event.ticket_url:
        return ticket
    # A URL inside <…|…> must not carry `|` or `>`; percent-encoding keeps it the same URL.
    url = event.ticket_url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{url}|{ticket}>"


def _endpoints(event: PageEvent) -> str:
    endpoints = event.certificate.endpoints
    listed = [f"• `{mrkdwn_escaped(endpoint)}`" for endpoint in endpoints[:MAX_ENDPOINTS_LISTED]]
    if len(endpoints) > MAX_ENDPOINTS_LISTED:
        listed.append(f"… and {len(endpoints) - MAX_ENDPOINTS_LISTED} more")
    return clipped("*Endpoints serving it*\n" + "\n".join(listed or ["(none)"]), SECTION_LIMIT)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clipped(text, SECTION_LIMIT)}}


def trigger_blocks(event: PageEvent) -> list[dict[str, Any]]:
    certificate = event.certificate
    names = ", ".join(certificate.names)
    fields = [
        f"*Expires*\n{expiry_text(event)}",
        f"*Ticket*\n{_link(event)}",
        f"*Certificate id*\n`{certificate.id}`",
        f"*Endpoints*\n{len(certificate.endpoints)}",
    ]
    return [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clipped(f"TLS certificate expiring: {names}", HEADER_LIMIT),
            },
        },
        _section(mrkdwn_escaped(event.summary)),
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": clipped(text, FIELD_LIMIT)} for text in fields],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _endpoints(event)}},
        _section("*What to do*\n" + mrkdwn_escaped(what_to_do(event))),
    ]


def resolve_blocks(event: PageEvent) -> list[dict[str, Any]]:
    names = ", ".join(event.certificate.names)
    return [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clipped(f"TLS certificate renewed: {names}", HEADER_LIMIT),
            },
        },
        _section(f"{mrkdwn_escaped(event.summary)}\n*Ticket* {_link(event)}"),
    ]


@dataclass
class SlackSink(HttpSink):
    """`url` is the incoming webhook's URL: its path is the credential, so it is kept secret.

    Slack does not deduplicate webhook messages: the delivery ledger (`alerts.ledger`) is what
    keeps a delivered page from being posted twice.
    """

    url: str = field(repr=False)  # the path is the credential: kept out of repr and logs

    def __post_init__(self) -> None:
        register_secret(self.url)

    def body(self, event: PageEvent) -> dict[str, Any]:
        blocks = trigger_blocks(event) if event.event == "trigger" else resolve_blocks(event)
        # `text` is the notification and screen-reader fallback when blocks are sent
        # (docs.slack.dev, chat.postMessage "text": "used as a fallback string").
        return {"text": clipped(event.summary, SECTION_LIMIT), "blocks": blocks}
