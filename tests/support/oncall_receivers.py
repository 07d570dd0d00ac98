"""Local Opsgenie and Slack receivers that refuse what the vendors' published API refuses.

Each rule cites the vendor's documentation it comes from; nothing here is read off our sender.
Both keep state the way the vendor does (Opsgenie: one open alert per alias; Slack: every
accepted POST is a message in the channel) so that tests assert on what on-call would see.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Receiver:
    """What a receiver saw and kept; `faults` are answered, in order, before anything else."""

    url: str = ""
    faults: list[Answer] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError


R = TypeVar("R", bound=Receiver)


@contextmanager
def serving(receiver: R, host: str = "127.0.0.9", prefix: str = "") -> Iterator[R]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            with receiver.lock:
                receiver.requests.append((self.path, headers, body))
                answer = (
                    receiver.faults.pop(0)
                    if receiver.faults
                    else receiver.handle(self.path, headers, body)
                )
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://{host}:{server.server_address[1]}{prefix}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- Opsgenie -----------------------------------------------------------------------------------
# Source: Opsgenie Alert API, https://docs.opsgenie.com/docs/alert-api ("Create Alert", "Close
# Alert") and https://docs.opsgenie.com/docs/authentication; the field table is mirrored in the
# CreateAlertRequest JSON schema (api-evangelist/opsgenie, opsgenie-createalertrequest-schema.json).

OPSGENIE_STRING_LIMITS = {
    "message": 130,  # "Message of the alert" - mandatory, limited to 130 characters
    "alias": 512,  # "Client-defined identifier of the alert" - 512 characters
    "description": 15000,  # "Description field of the alert" - 15000 characters
    "entity": 512,  # "Entity field of the alert" - 512 characters
    "source": 100,  # "Source field of the alert" - 100 characters
    "user": 100,  # "Display name of the request owner" - 100 characters
    "note": 25000,  # "Additional note that will be added while creating the alert" - 25000
}
OPSGENIE_CREATE_FIELDS = frozenset(
    {*OPSGENIE_STRING_LIMITS, "responders", "visibleTo", "actions", "tags", "details", "priority"}
)
OPSGENIE_PRIORITIES = ("P1", "P2", "P3", "P4", "P5")  # "Default value is P3"
OPSGENIE_DETAILS_LIMIT = 8000  # "Map of key-value pairs ... 8000 characters total"
OPSGENIE_IDENTIFIER_TYPES = ("id", "tiny", "alias")  # "identifierType ... Default value is id"


def _opsgenie_json(status: int, document: dict[str, Any]) -> Answer:
    body = json.dumps({**document, "took": 0.01, "requestId": str(uuid.uuid4())}).encode()
    return Answer(status, {"Content-Type": "application/json"}, body)


@dataclass
class OpsgenieReceiver(Receiver):
    """Alert API v2, with the vendor's de-duplication: one open alert per alias."""

    api_key: str = "genie-key-for-tests"
    # alias -> {"status": "open"|"closed", "count": n, "request": the create body}
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        # Authentication: "Authorization: GenieKey <api key>" on every request; 401 otherwise.
        if headers.get("authorization") != f"GenieKey {self.api_key}":
            self.refused.append("authorization")
            return _opsgenie_json(401, {"message": "Could not authenticate"})
        # Every example in the Alert API sends `Content-Type: application/json`.
        if not headers.get("content-type", "").startswith("application/json"):
            self.refused.append("content-type")
            return _opsgenie_json(415, {"message": "Unsupported Media Type"})
        parts = urlsplit(path)
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            self.refused.append("json")
            return _opsgenie_json(400, {"message": "Could not parse request body"})
        if not isinstance(document, dict):
            self.refused.append("json")
            return _opsgenie_json(400, {"message": "Request body must be an object"})
        if parts.path == "/v2/alerts":
            return self._create(document)
        segments = parts.path.split("/")
        if len(segments) == 5 and segments[:3] == ["", "v2", "alerts"] and segments[4] == "close":
            query = parse_qs(parts.query)
            return self._close(
                unquote(segments[3]), query.get("identifierType", ["id"])[0], document
            )
        return _opsgenie_json(404, {"message": "Not found"})

    def _invalid(self, document: dict[str, Any], allowed: frozenset[str]) -> str | None:
        unknown = set(document) - allowed
        if unknown:
            return f"unknown fields {sorted(unknown)}"
        for name in set(document) & set(OPSGENIE_STRING_LIMITS):
            value = document[name]
            if not isinstance(value, str):
                return f"{name} must be a string"
            if len(value) > OPSGENIE_STRING_LIMITS[name]:
                return f"{name} is longer than {OPSGENIE_STRING_LIMITS[name]} characters"
        return None

    def _create(self, document: dict[str, Any]) -> Answer:
        problem = self._invalid(document, OPSGENIE_CREATE_FIELDS) or _create_rules(document)
        if problem:
            self.refused.append(problem)
            return _opsgenie_json(422, {"message": problem})
        alias = document.get("alias") or document["message"]  # alias defaults to the message
        alert = self.alerts.get(alias)
        if alert is not None and alert["status"] == "open":
            alert["count"] += 1  # "no new alert is created, only a counter will be incremented"
        else:
            self.alerts[alias] = {"status": "open", "count": 1, "request": document}
        return _opsgenie_json(202, {"result": "Request will be processed"})

    def _close(self, identifier: str, kind: str, document: dict[str, Any]) -> Answer:
        if kind not in OPSGENIE_IDENTIFIER_TYPES:
            self.refused.append(f"identifierType {kind}")
            return _opsgenie_json(422, {"message": f"Invalid identifierType [{kind}]"})
        problem = self._invalid(document, frozenset({"user", "source", "note"}))
        if problem:
            self.refused.append(problem)
            return _opsgenie_json(422, {"message": problem})
        if kind == "alias" and identifier in self.alerts:
            self.alerts[identifier]["status"] = "closed"
            self.alerts[identifier]["close"] = document
        else:
            # The API accepts the request and fails it later (GET /v2/alerts/requests/{id});
            # the receiver records the miss so a test can see it.
            self.refused.append(f"close of unknown {kind} {identifier}")
        return _opsgenie_json(202, {"result": "Request will be processed"})


def _create_rules(document: dict[str, Any]) -> str | None:
    if not document.get("message"):
        return "message is mandatory"
    if "priority" in document and document["priority"] not in OPSGENIE_PRIORITIES:
        return "priority must be one of P1..P5"
    tags = document.get("tags", [])
    # "Tags of the alert": at most 20, each at most 50 characters (Alerts and Alert Fields).
    if not isinstance(tags, list) or len(tags) > 20:
        return "tags must be a list of at most 20"
    if any(not isinstance(tag, str) or len(tag) > 50 for tag in tags):
        return "each tag must be a string of at most 50 characters"
    details = document.get("details", {})
    if not isinstance(details, dict) or any(
        not isinstance(key, str) or not isinstance(value, str) for key, value in details.items()
    ):
        return "details must map strings to strings"
    if sum(len(key) + len(value) for key, value in details.items()) > OPSGENIE_DETAILS_LIMIT:
        return f"details exceed {OPSGENIE_DETAILS_LIMIT} characters"
    return None


# -- Slack --------------------------------------------------------------------------------------
# Sources: "Sending messages using incoming webhooks" (docs.slack.dev/messaging/sending-messages-
# using-incoming-webhooks); the error strings and statuses from "Improving error conditions for
# Incoming Webhooks" (api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks);
# block limits from the Block Kit reference (docs.slack.dev/reference/block-kit/blocks/...).

SLACK_MAX_BLOCKS = 50  # "blocks: An array of layout blocks ... maximum of 50 blocks" per message
SLACK_TEXT_TYPES = ("plain_text", "mrkdwn")  # composition objects: "Text object"


def _slack_text(value: Any, limit: int, plain_only: bool = False) -> str | None:
    if not isinstance(value, dict) or value.get("type") not in SLACK_TEXT_TYPES:
        return "text object needs type plain_text or mrkdwn"
    if plain_only and value["type"] != "plain_text":
        return "this text must be plain_text"
    text = value.get("text")
    if not isinstance(text, str) or not text:
        return "text object needs a non-empty text"  # "text ... Minimum length ... is 1"
    if len(text) > limit:
        return f"text longer than {limit} characters"
    return None


def _slack_block(block: Any) -> str | None:
    if not isinstance(block, dict):
        return "a block must be an object"
    kind = block.get("type")
    if kind == "header":
        # Header block: "text ... plain_text ... Maximum length ... is 150 characters."
        return _slack_text(block.get("text"), 150, plain_only=True)
    if kind == "section":
        # Section block: text up to 3000 characters; "fields ... Maximum number of items is 10.
        # Maximum length for the text in each item is 2000 characters"; one of the two required.
        if "text" not in block and "fields" not in block:
            return "section needs text or fields"
        if "text" in block and (problem := _slack_text(block["text"], 3000)):
            return problem
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            return "section fields: at most 10"
        return next((p for f in fields if (p := _slack_text(f, 2000))), None)
    if kind == "divider":
        return None
    if kind == "context":
        # Context block: "elements ... Maximum number of items is 10."
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return "context needs 1 to 10 elements"
        return next((p for e in elements if (p := _slack_text(e, 3000))), None)
    return f"block type {kind!r} is not accepted here"


@dataclass
class SlackReceiver(Receiver):
    """One incoming webhook: its secret path, and the channel's messages in arrival order."""

    hook_path: str = "/services/T0000TEST/B0000TEST/abcdefghijklmnopqrstuvwx"
    messages: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path != self.hook_path:
            return Answer(404, {"Content-Type": "text/html"}, b"no_service")
        # "send a JSON payload ... with Content-type: application/json" (the webhook guide).
        if not headers.get("content-type", "").startswith("application/json"):
            self.refused.append("content-type")
            return Answer(400, {"Content-Type": "text/html"}, b"invalid_payload")
        try:
            document = json.loads(body)
        except ValueError:
            self.refused.append("json")
            return Answer(400, {"Content-Type": "text/html"}, b"invalid_payload")
        problem = _slack_message(document)
        if problem is not None:
            self.refused.append(problem)
            code = b"no_text" if problem == "no_text" else b"invalid_blocks"
            return Answer(400, {"Content-Type": "text/html"}, code)
        self.messages.append(document)
        return Answer(200, {"Content-Type": "text/html"}, b"ok")


def _slack_message(document: Any) -> str | None:
    if not isinstance(document, dict):
        return "invalid_payload"
    blocks = document.get("blocks")
    text = document.get("text")
    # A message needs text or blocks; with blocks, `text` is the notification fallback.
    if not text and not blocks:
        return "no_text"
    if text is not None and not isinstance(text, str):
        return "text must be a string"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > SLACK_MAX_BLOCKS:
        return f"blocks: a list of at most {SLACK_MAX_BLOCKS}"
    return next((p for block in blocks if (p := _slack_block(block))), None)
