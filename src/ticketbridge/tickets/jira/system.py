"""The Jira backend: the TicketSystem protocol on Jira Cloud or Data Center, through `jira`."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, cast
from urllib.parse import quote, urlsplit

import requests
from jira import JIRA, JIRAError
from urllib3.exceptions import ConnectTimeoutError

from ticketbridge.app.config import JiraSettings
from ticketbridge.core.model import (
    MARKER_LABEL,
    MARKER_PREFIX,
    StatusCategory,
    Ticket,
    marker_label,
)
from ticketbridge.core.ports import (
    MAX_DESCRIPTION,
    Comment,
    NewTicket,
    TicketEdit,
    TransitionTarget,
    valid_field,
    valid_labels,
    valid_summary,
)
from ticketbridge.errors import (
    BackendError,
    ConfigError,
    PermanentBackendError,
    TransientBackendError,
)
from ticketbridge.infra.retrying import (
    Failure,
    Pacer,
    Retrier,
    RetryPolicy,
    Safety,
    parse_retry_after,
)

__all__ = [
    "JiraPermanentError",
    "JiraTicketSystem",
    "JiraTransientError",
    "adf_to_text",
    "choose_transition",
    "jql_quote",
    "strip_order_by",
    "text_to_adf",
    "unwrap_noformat",
    "wrap_noformat",
]

log = logging.getLogger(__name__)

Deployment = Literal["cloud", "datacenter"]
Clock = Callable[[], datetime]
Sleep = Callable[[float], None]

# Jira's own limits: checked here, so that a bad value fails before anything is written.
MAX_PROPERTY: Final = 32_768
PROPERTY_KEY: Final = "ticketbridge"
RECENTLY_CLOSED_DAYS: Final = 30
# Cloud's /search/jql returns at most 100 issues a page when fields are asked for; Data Center
# caps maxResults at 1000 by default (jira.search.views.default.max).
CLOUD_PAGE: Final = 100
DATACENTER_PAGE: Final = 1000
# Cloud accepts at most 50 ids in reconcileIssues.
MAX_RECONCILE: Final = 50
# Cloud's index usually catches up within seconds: how often to look again for the marker of a
# create whose answer was lost, before concluding that it really did not happen.
CLOUD_SETTLE_DELAYS: Final = (1.0, 2.0, 4.0)
FIELDS: Final = (
    "summary",
    "status",
    "created",
    "duedate",
    "labels",
    "priority",
    "assignee",
    "resolutiondate",
)
_CATEGORIES: Final[frozenset[str]] = frozenset({"new", "indeterminate", "done"})
_ACCOUNT_ID = re.compile(r"[0-9a-f]{24}|\d+:[0-9A-Za-z-]+")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- errors ---------------------------------------------------------------------------------------


class JiraTransientError(TransientBackendError):
    """A failure worth retrying, with what the retry policy needs to know about it."""

    def __init__(self, message: str, failure: Failure, status: int | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.status = status


class JiraPermanentError(PermanentBackendError):
    """A failure retrying will not fix; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _classify(exc: BaseException) -> Failure | None:
    return exc.failure if isinstance(exc, JiraTransientError) else None


def _redact(exc: BaseException) -> None:
    """Remove credentials from an exception before it is chained under ours.

    `JIRAError.__str__` prints the request headers it holds, and `requests` keeps the prepared
    request (Authorization header included) on exceptions and responses: a `--debug`
    traceback would print the token.
    """
    response = getattr(exc, "response", None)
    for request in (getattr(exc, "request", None), getattr(response, "request", None)):
        headers = getattr(request, "headers", None)
        if headers is not None and "Authorization" in headers:
            headers["Authorization"] = "<redacted>"
    if isinstance(exc, JIRAError):
        exc.headers = None
        exc.request = None


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection was never established, so the request cannot have arrived."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError is a subclass


# -- JQL --------------------------------------------------------------------------------------------


def jql_quote(value: str) -> str:
    """A JQL string literal for any text: quotes, backslashes and control characters escaped."""
    out = ['"']
    for character in value:
        if character in ('"', "\\"):
            out.append("\\" + character)
        elif character == "\n":
            out.append("\\n")
        elif character == "\r":
            out.append("\\r")
        elif character == "\t":
            out.append("\\t")
        elif ord(character) < 0x20 or 0x7F <= ord(character) < 0xA0:
            out.append(f"\\u{ord(character):04x}")
        else:
            out.append(character)
    out.append('"')
    return "".join(out)


_ORDER_BY = re.compile(r"order\s+by\b", re.IGNORECASE)


def strip_order_by(query: str) -> str:
    """The query without its ORDER BY clause (outside string literals), to nest it in another."""
    quote_char: str | None = None
    index = 0
    while index < len(query):
        character = query[index]
        if quote_char is not None:
            if character == "\\":
                index += 2
                continue
            if character == quote_char:
                quote_char = None
        elif character in "\"'":
            quote_char = character
        elif (index == 0 or not query[index - 1].isalnum()) and _ORDER_BY.match(query, index):
            return query[:index].strip()
        index += 1
    return query.strip()


# -- rich text: what ticketbridge writes is text, never markup -----------------------------------


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian document: nothing in it is read as markup (REST v3, Cloud)."""
    content = []
    for paragraph in text.split("\n\n"):
        nodes: list[dict[str, Any]] = []
        for index, line in enumerate(paragraph.split("\n")):
            if index:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(document: Any) -> str:
    """An Atlassian document as plain text: paragraphs, line breaks, lists, code, mentions."""
    if not isinstance(document, Mapping):
        return "" if document is None else str(document)
    blocks = [_adf_block(node) for node in document.get("content") or []]
    return "\n\n".join(blocks)


def _adf_block(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    children = node.get("content") or []
    if kind in ("paragraph", "heading", "codeBlock"):
        return _adf_inline(children)
    if kind in ("bulletList", "orderedList"):
        bullet = "-" if kind == "bulletList" else "#"
        return "\n".join(
            f"{bullet} " + "\n".join(_adf_block(child) for child in item.get("content") or [])
            for item in children
        )
    if kind == "rule":
        return "----"
    if any(child.get("type") in _ADF_INLINE for child in children):
        return _adf_inline(children)
    return "\n".join(_adf_block(child) for child in children)


_ADF_INLINE = frozenset({"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"})


def _adf_inline(nodes: Iterable[Mapping[str, Any]]) -> str:
    out = []
    for node in nodes:
        kind = node.get("type")
        attrs = node.get("attrs") or {}
        if kind == "text":
            out.append(str(node.get("text", "")))
        elif kind == "hardBreak":
            out.append("\n")
        elif kind == "mention":
            out.append(f"[~accountid:{attrs.get('id', '')}]")
        elif kind == "inlineCard":
            out.append(str(attrs.get("url", "")))
        elif kind == "emoji":
            out.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        else:
            out.append(_adf_inline(node.get("content") or []) or str(attrs.get("text", "")))
    return "".join(out)


NOFORMAT: Final = "{noformat}"
_WORD_JOINER: Final = "\u2060"
# A `{` followed by `noformat` (which would close the block early) or by a word joiner (so the
# encoding stays reversible) gets a word joiner after it; decoding removes one.
_BREAK_NOFORMAT = re.compile(r"\{(?=\u2060|noformat)", re.IGNORECASE)
_UNBREAK_NOFORMAT = re.compile(r"\{\u2060")


def wrap_noformat(text: str) -> str:
    """Plain text as Jira wiki markup that renders literally (REST v2, Data Center)."""
    return f"{NOFORMAT}\n{_BREAK_NOFORMAT.sub('{' + _WORD_JOINER, text)}\n{NOFORMAT}"


def unwrap_noformat(markup: str) -> str:
    """The text `wrap_noformat` was given; other markup (a person's comment) as it is."""
    head, tail = f"{NOFORMAT}\n", f"\n{NOFORMAT}"
    if len(markup) >= len(head) + len(tail) and markup.startswith(head) and markup.endswith(tail):
        return _UNBREAK_NOFORMAT.sub("{", markup[len(head) : -len(tail)])
    return markup


# -- the backend ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Connection:
    client: JIRA
    deployment: Deployment

    @property
    def api(self) -> str:
        # Cloud takes text as Atlassian documents on v3 (never parsed as markup); Data Center
        # has only v2.
        return "3" if self.deployment == "cloud" else "2"


class JiraTicketSystem:
    """The TicketSystem protocol on a Jira project, Cloud or Data Center.

    Every request goes through one retry policy and one pacer. The `jira` client is built with
    `max_retries=0`: its own retries re-send POSTs, which is how naive clients file duplicates.
    """

    def __init__(
        self,
        settings: JiraSettings,
        *,
        clock: Clock = _utcnow,
        sleep: Sleep = time.sleep,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        _check_settings(settings)
        self._settings = settings
        self._url = settings.url.rstrip("/")
        self._token = settings.token.get_secret_value()
        self._clock = clock
        self._sleep = sleep
        self._retrier = Retrier(retry_policy or RetryPolicy(), _classify, clock=clock, sleep=sleep)
        self._pacer = Pacer(settings.requests_per_second, clock=clock, sleep=sleep)
        self._labels = valid_labels(tuple(settings.labels))
        self._secrets = _secret_forms(settings.email, self._token)
        self._lock = threading.Lock()
        self._connection: _Connection | None = None
        self._anonymous: _Connection | None = None
        self._server_info: dict[str, Any] | None = None
        self._properties: bool | None = None  # unknown until a write says otherwise
        self._accounts: dict[str, str] = {}
        # Issues written by this process, newest last: Cloud's search index may not show them
        # yet, so searches name them in reconcileIssues and marker lookups fetch them by key.
        self._written: OrderedDict[str, None] = OrderedDict()
        self._marker_keys: dict[str, set[str]] = {}
        self._ids: dict[str, int] = {}  # issue key -> id, learnt from every issue read

    @classmethod
    def from_settings(
        cls, settings: JiraSettings, *, clock: Clock = _utcnow, sleep: Sleep = time.sleep
    ) -> JiraTicketSystem:
        return cls(settings, clock=clock, sleep=sleep)

    def __repr__(self) -> str:
        return (
            f"JiraTicketSystem(url={self._url!r}, project={self._settings.project!r}, "
            f"deployment={self._settings.deployment!r})"
        )

    def close(self) -> None:
        with self._lock:
            for connection in (self._connection, self._anonymous):
                if connection is not None:
                    connection.client.close()  # type: ignore[no-untyped-call]
            self._connection = self._anonymous = None

    def __enter__(self) -> JiraTicketSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the TicketSystem protocol ---------------------------------------------------------------

    def open_tickets(self) -> Sequence[Ticket]:
        """One paginated search: the adoption scope, plus marker tickets closed recently."""
        project = jql_quote(self._settings.project)
        adopt = strip_order_by(self._settings.adopt_jql) or (
            f"project = {project} AND statusCategory != Done"
        )
        closed = (
            f"project = {project} AND labels = {jql_quote(MARKER_LABEL)} "
            f"AND statusCategory = Done AND resolved >= -{RECENTLY_CLOSED_DAYS}d"
        )
        found = self._search(f"({adopt}) OR ({closed}) ORDER BY key ASC")
        # JQL cannot match a label prefix: a closed ticket counts only with a `tb-` marker.
        return [ticket for ticket in found if ticket.is_open or ticket.marker_ids]

    def find_by_marker(self, certificate_id: str) -> Sequence[Ticket]:
        marker = marker_label(certificate_id)
        query = (
            f"project = {jql_quote(self._settings.project)} AND labels = {jql_quote(marker)} "
            "ORDER BY key ASC"
        )
        found = {ticket.key: ticket for ticket in self._search(query)}
        # Read-after-write: what this process marked is fetched by key (always consistent)
        # in case the search index has not caught up with it.
        for key in sorted(self._marker_keys.get(marker, set()) - set(found)):
            try:
                ticket = self._fetch(key)
            except JiraPermanentError as exc:
                if exc.status == 404:
                    continue
                raise
            if marker in ticket.labels:
                found[key] = ticket
        return sorted(found.values(), key=lambda ticket: (ticket.created, _key_order(ticket.key)))

    def create(self, ticket: NewTicket, comment: str) -> Ticket:
        summary = valid_summary(ticket.summary)
        labels = valid_labels((*ticket.labels, *self._labels))
        assignee = None if ticket.assignee is None else valid_field("assignee", ticket.assignee)
        priority = None if ticket.priority is None else valid_field("priority", ticket.priority)
        evidence = _evidence({"certificate_id": ticket.certificate_id, **ticket.evidence})
        connection = self._connect()
        comment_body = self._rich(comment, "comment", connection)
        fields: dict[str, Any] = {
            **self._settings.extra_fields,
            "project": {"key": self._settings.project},
            "issuetype": {"name": self._settings.issue_type},
            "summary": summary,
            "description": self._rich(ticket.description, "description", connection, cut=True),
            "duedate": ticket.due_date.isoformat(),
            "labels": list(labels),
        }
        if priority is not None:
            fields["priority"] = {"name": priority}
        if assignee is not None:
            fields["assignee"] = self._user(assignee)
        marker = marker_label(ticket.certificate_id)
        created = self._call(
            "POST",
            "issue",
            body={"fields": fields},
            safety=Safety.UNSAFE,
            # Never re-send a create whose answer was lost: it may have been filed. Look for
            # the marker first and adopt what is there; without a marker, never re-send.
            verify=(lambda: self._settled_marker(marker)) if marker in labels else None,
            what=f"create a ticket for {marker}",
        )
        key = str(created["key"])
        self._ids[key] = int(created["id"])
        self._remember(key, labels)
        self._put_evidence(key, evidence)
        self._post_comment(key, comment_body, comment)
        return self._fetch(key)

    def edit(self, key: str, edit: TicketEdit, comment: str) -> Ticket:
        labels = valid_labels(edit.add_labels)
        if any(label.startswith(MARKER_PREFIX) for label in labels):
            labels = valid_labels((*labels, *self._labels))
        priority = None if edit.priority is None else valid_field("priority", edit.priority)
        assignee = None if edit.assignee is None else valid_field("assignee", edit.assignee)
        evidence = None if edit.evidence is None else _evidence(edit.evidence)
        connection = self._connect()
        fields: dict[str, Any] = {}
        if edit.due_date is not None:
            fields["duedate"] = edit.due_date.isoformat()
        if priority is not None:
            fields["priority"] = {"name": priority}
        if assignee is not None:
            fields["assignee"] = self._user(assignee)
        update: dict[str, Any] = {
            "comment": [{"add": {"body": self._rich(comment, "comment", connection)}}]
        }
        if labels:
            update["labels"] = [{"add": label} for label in labels]
        if evidence is not None:
            # Before the edit: a crash in between leaves the edit to the next run, which then
            # sees the fresh evidence; the reverse order could leave stale tracked endpoints.
            self._put_evidence(key, evidence)
        # Fields, labels and the comment travel in one PUT: they land together or not at all,
        # so the comment is the witness that an edit whose answer was lost did land.
        self._call(
            "PUT",
            f"issue/{_path(key)}",
            body={"fields": fields, "update": update},
            safety=Safety.UNSAFE,
            verify=lambda: self._comment_landed(key, comment),
            what=f"edit {key}",
        )
        self._remember(key, labels)
        return self._fetch(key)

    def add_comment(self, key: str, body: str) -> None:
        self._post_comment(key, self._rich(body, "comment", self._connect()), body)

    def transition(self, key: str, target: TransitionTarget, comment: str) -> Ticket:
        if target not in ("done", "reopen"):
            raise JiraPermanentError(f"unknown transition {target!r}")
        body_text = self._rich(comment, "comment", self._connect())
        before = self._fetch(key)
        if target == "done" and not before.is_open:
            raise JiraPermanentError(f"{key} is already {before.status}")
        if target == "reopen" and before.is_open:
            raise JiraPermanentError(f"{key} is not closed ({before.status})")
        chosen = self._choose_transition(key, before.status, self.transitions_of(key), target)
        screen = chosen.get("fields") or {}
        request: dict[str, Any] = {"transition": {"id": str(chosen["id"])}}
        if target == "done" and "resolution" in screen:
            request["fields"] = {"resolution": _resolution(screen["resolution"])}
        # On the transition screen the comment lands with the transition, atomically; without
        # a screen Jira may refuse it there, so it follows as a comment of its own.
        with_comment = "comment" in screen
        if with_comment:
            request["update"] = {"comment": [{"add": {"body": body_text}}]}
        self._call(
            "POST",
            f"issue/{_path(key)}/transitions",
            body=request,
            safety=Safety.UNSAFE,
            verify=lambda: self._moved(key, target),
            what=f"{target} {key} ({chosen.get('name')})",
        )
        self._remember(key, ())
        if not with_comment:
            self._post_comment(key, body_text, comment)
        return self._fetch(key)

    def comments(self, key: str) -> Sequence[Comment]:
        found: list[Comment] = []
        while True:
            page = self._call(
                "GET",
                f"issue/{_path(key)}/comment",
                params={"startAt": len(found), "maxResults": 100, "orderBy": "created"},
                safety=Safety.READ,
                what=f"read the comments of {key}",
            )
            batch = page.get("comments") or []
            found.extend(self._comment(raw) for raw in batch)
            if not batch or len(found) >= int(page.get("total", len(found))):
                return found

    # -- what doctor asks ------------------------------------------------------------------------

    @property
    def deployment(self) -> Deployment:
        return self._connect().deployment

    def server_info(self) -> dict[str, Any]:
        """GET serverInfo without credentials: reachability, TLS and the deployment type."""
        if self._server_info is None:
            with self._lock:
                if self._anonymous is None:
                    self._anonymous = self._session(None, "2")
                anonymous = self._anonymous
            self._server_info = self._send(
                anonymous.client._session,
                "GET",
                f"{self._url}/rest/api/2/serverInfo",
                params=None,
                body=None,
                safety=Safety.READ,
                verify=None,
                what="read the Jira server info",
            )
        return dict(self._server_info or {})

    def myself(self) -> dict[str, Any]:
        return dict(self._call("GET", "myself", safety=Safety.READ, what="check the credentials"))

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """One read of the REST API (the deployment's version), under the retry policy."""
        return self._call("GET", path, params=params, safety=Safety.READ, what=f"read {path}")

    # -- connection and requests -----------------------------------------------------------------

    def _connect(self) -> _Connection:
        with self._lock:
            connection = self._connection
        if connection is not None:
            return connection
        deployment: Deployment
        if self._settings.deployment == "auto":
            kind = str(self.server_info().get("deploymentType", "")).lower()
            # Data Center nodes report "Server" (or "DataCenter"); only Cloud says "Cloud".
            deployment = "cloud" if kind == "cloud" else "datacenter"
        else:
            deployment = self._settings.deployment
        if deployment == "cloud" and not self._settings.email:
            raise JiraPermanentError(
                f"{self._url} is Jira Cloud: set jira.email to the account the API token belongs to"
            )
        fresh = self._session(deployment, "3" if deployment == "cloud" else "2")
        with self._lock:
            if self._connection is None:
                self._connection = fresh
            else:
                fresh.client.close()  # type: ignore[no-untyped-call]
            return self._connection

    def _session(self, deployment: Deployment | None, api: str) -> _Connection:
        verify: bool | str = self._settings.ca_bundle or True
        auth: dict[str, Any] = {}
        if deployment == "cloud":
            auth["basic_auth"] = (self._settings.email, self._token)
        elif deployment == "datacenter":
            auth["token_auth"] = self._token
        client = JIRA(
            self._url,
            options={"verify": verify, "rest_api_version": api, "check_update": False},
            max_retries=0,
            get_server_info=False,
            timeout=self._settings.timeout,
            logging=False,
            **auth,
        )
        return _Connection(client, deployment or "datacenter")

    def _call(
        self,
        method: str,
        path: str,
        *,
        safety: Safety,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        verify: Callable[[], Any] | None = None,
        what: str,
    ) -> Any:
        connection = self._connect()
        url = f"{self._url}/rest/api/{connection.api}/{path}"
        return self._send(
            connection.client._session,
            method,
            url,
            params=params,
            body=body,
            safety=safety,
            verify=verify,
            what=what,
        )

    def _send(
        self,
        session: requests.Session,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        safety: Safety,
        verify: Callable[[], Any] | None,
        what: str,
    ) -> Any:
        data = None if body is None else json.dumps(body)

        def attempt() -> Any:
            self._pacer.acquire()
            log.debug("%s %s", method, url)
            try:
                response = session.request(method, url, params=params, data=data)
            except (JIRAError, requests.RequestException) as exc:
                raise self._translate(exc, what) from exc
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                raise JiraTransientError(
                    f"{what}: Jira answered HTTP {response.status_code} without JSON",
                    Failure(retryable=True),
                    response.status_code,
                ) from None

        return self._retrier.call(attempt, safety=safety, verify=verify, what=what)

    def _translate(self, exc: BaseException, what: str) -> BackendError:
        _redact(exc)
        if isinstance(exc, JIRAError):
            status = exc.status_code
            detail = self._scrub(str(exc.text or "").strip())
            headers = getattr(exc.response, "headers", None) or {}
            if status is None:
                return JiraTransientError(f"{what}: no answer from Jira", Failure(True))
            if status == 429 or status >= 500:
                wait = parse_retry_after(headers, self._clock())
                reason = "rate limited" if status == 429 else "Jira failed"
                return JiraTransientError(
                    f"{what}: {reason} (HTTP {status}){': ' + detail if detail else ''}",
                    Failure(True, retry_after=wait),
                    status,
                )
            if status == 401:
                return JiraPermanentError(
                    f"{what}: Jira refused the credentials (HTTP 401); check jira.email and "
                    "jira.token",
                    status,
                )
            suffix = f": {detail}" if detail else ""
            return JiraPermanentError(f"{what}: Jira answered HTTP {status}{suffix}", status)
        if isinstance(exc, requests.exceptions.SSLError):
            return JiraPermanentError(
                f"{what}: TLS verification of {self._url} failed; for a private CA set "
                "jira.ca_bundle"
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return JiraTransientError(
                f"{what}: timed out connecting to {self._url}", Failure(True, delivered=False)
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            if _never_sent(exc):
                return JiraTransientError(
                    f"{what}: cannot connect to {self._url}", Failure(True, delivered=False)
                )
            return JiraTransientError(f"{what}: the connection to Jira dropped", Failure(True))
        if isinstance(exc, requests.exceptions.Timeout):
            return JiraTransientError(
                f"{what}: no answer within {self._settings.timeout:g}s", Failure(True)
            )
        return JiraTransientError(f"{what}: {type(exc).__name__} talking to Jira", Failure(True))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- reading ---------------------------------------------------------------------------------

    def _search(self, query: str, limit: int | None = None) -> list[Ticket]:
        """Every ticket the query matches (or the first `limit`), page by page."""
        connection = self._connect()
        found: dict[str, Ticket] = {}
        if connection.deployment == "cloud":
            token: str | None = None
            while True:
                body: dict[str, Any] = {
                    "jql": query,
                    "fields": list(FIELDS),
                    "properties": [PROPERTY_KEY],
                    "maxResults": min(CLOUD_PAGE, limit or CLOUD_PAGE),
                    "reconcileIssues": self._reconcile_ids(),
                }
                if token:
                    body["nextPageToken"] = token
                page = self._call(
                    "POST", "search/jql", body=body, safety=Safety.READ, what="search"
                )
                for raw in page.get("issues") or []:
                    ticket = self._ticket(raw)
                    found[ticket.key] = ticket
                token = page.get("nextPageToken")
                if page.get("isLast", True) or not token or len(found) >= (limit or len(found) + 1):
                    break
        else:
            start = 0
            while True:
                page = self._call(
                    "POST",
                    "search",
                    body={
                        "jql": query,
                        "startAt": start,
                        "maxResults": min(DATACENTER_PAGE, limit or DATACENTER_PAGE),
                        "fields": list(FIELDS),
                        "properties": [PROPERTY_KEY],
                    },
                    safety=Safety.READ,
                    what="search",
                )
                issues = page.get("issues") or []
                for raw in issues:
                    ticket = self._ticket(raw)
                    found[ticket.key] = ticket
                start += len(issues)
                if (
                    not issues
                    or start >= int(page.get("total", 0))
                    or len(found) >= (limit or start + 1)
                ):
                    break
        return list(found.values())

    def _fetch(self, key: str) -> Ticket:
        raw = self._call(
            "GET",
            f"issue/{_path(key)}",
            params={"fields": ",".join(FIELDS), "properties": PROPERTY_KEY},
            safety=Safety.READ,
            what=f"read {key}",
        )
        return self._ticket(raw)

    def _ticket(self, raw: Mapping[str, Any]) -> Ticket:
        fields = raw.get("fields") or {}
        status = fields.get("status") or {}
        category = str((status.get("statusCategory") or {}).get("key", "new"))
        status_category = cast(StatusCategory, category if category in _CATEGORIES else "new")
        due = fields.get("duedate")
        resolved = fields.get("resolutiondate")
        key = str(raw["key"])
        if raw.get("id"):
            self._ids[key] = int(raw["id"])
        return Ticket(
            key=key,
            summary=str(fields.get("summary") or ""),
            status=str(status.get("name") or ""),
            status_category=status_category,
            created=_timestamp(str(fields.get("created"))),
            due_date=date.fromisoformat(due) if due else None,
            labels=tuple(fields.get("labels") or ()),
            priority=(fields.get("priority") or {}).get("name"),
            assignee=self._person(fields.get("assignee")),
            resolved_at=_timestamp(resolved) if resolved else None,
            url=f"{self._url}/browse/{key}",
            tracked_endpoints=_tracked(raw.get("properties")),
        )

    def _person(self, user: Mapping[str, Any] | None) -> str | None:
        if not user:
            return None
        # Data Center names users by username; Cloud hides it (GDPR): the display name is the
        # one thing people recognise there.
        for field in ("name", "displayName", "accountId"):
            if user.get(field):
                return str(user[field])
        return None

    def _comment(self, raw: Mapping[str, Any]) -> Comment:
        return Comment(
            author=self._person(raw.get("author")) or "",
            body=self._plain(raw.get("body")),
            created=_timestamp(str(raw.get("created"))),
        )

    # -- writing ---------------------------------------------------------------------------------

    def _rich(self, text: str, name: str, connection: _Connection, *, cut: bool = False) -> Any:
        """Text as the deployment's rich-text value, where no character is read as markup."""
        if not text.strip():
            raise JiraPermanentError(f"{name}: must not be empty")
        wrapped = (lambda t: t) if connection.deployment == "cloud" else wrap_noformat
        if len(wrapped(text)) > MAX_DESCRIPTION:
            if not cut:
                raise JiraPermanentError(
                    f"{name}: {len(text)} characters, more than Jira's {MAX_DESCRIPTION:,}"
                )
            marker = "\n… (truncated)"
            text = text[: MAX_DESCRIPTION - len(wrapped("")) - len(marker)] + marker
        return text_to_adf(text) if connection.deployment == "cloud" else wrap_noformat(text)

    def _plain(self, body: Any) -> str:
        if isinstance(body, Mapping):
            return adf_to_text(body)
        return unwrap_noformat("" if body is None else str(body))

    def _user(self, who: str) -> dict[str, str]:
        if self._connect().deployment == "datacenter":
            return {"name": who}
        return {"accountId": self._account_id(who)}

    def _account_id(self, who: str) -> str:
        if _ACCOUNT_ID.fullmatch(who):
            return who
        if who not in self._accounts:
            found = self._call(
                "GET",
                "user/search",
                params={"query": who},
                safety=Safety.READ,
                what=f"look up the Jira user {who!r}",
            )
            wanted = who.casefold()
            matches = {
                str(user["accountId"])
                for user in found or []
                if wanted
                in {str(user.get(f, "")).casefold() for f in ("emailAddress", "displayName")}
            }
            if len(matches) != 1:
                raise JiraPermanentError(
                    f"assignee {who!r}: {'no' if not matches else 'more than one'} Jira Cloud "
                    "user matches; name them by email or accountId"
                )
            self._accounts[who] = matches.pop()
        return self._accounts[who]

    def _post_comment(self, key: str, body: Any, text: str) -> None:
        self._call(
            "POST",
            f"issue/{_path(key)}/comment",
            body={"body": body},
            safety=Safety.UNSAFE,
            verify=lambda: self._comment_landed(key, text),
            what=f"comment on {key}",
        )

    def _comment_landed(self, key: str, text: str) -> bool | None:
        """True when the newest comments of `key` include exactly `text` (a lost answer landed)."""
        page = self._call(
            "GET",
            f"issue/{_path(key)}/comment",
            params={"orderBy": "-created", "maxResults": 20},
            safety=Safety.READ,
            what=f"check the comments of {key}",
        )
        bodies = {self._plain(raw.get("body")) for raw in page.get("comments") or []}
        return True if text in bodies else None

    def _moved(self, key: str, target: TransitionTarget) -> bool | None:
        ticket = self._fetch(key)
        return True if ticket.is_open == (target == "reopen") else None

    def _settled_marker(self, marker: str) -> dict[str, Any] | None:
        """The oldest open ticket carrying `marker`, looking again while Cloud's index settles."""
        connection = self._connect()
        delays = CLOUD_SETTLE_DELAYS if connection.deployment == "cloud" else ()
        for delay in (*delays, None):
            query = (
                f"project = {jql_quote(self._settings.project)} AND labels = {jql_quote(marker)} "
                "AND statusCategory != Done ORDER BY created ASC"
            )
            found = self._search(query)
            if found:
                oldest = min(found, key=lambda ticket: (ticket.created, _key_order(ticket.key)))
                log.warning("a lost create had filed %s; adopting it", oldest.key)
                return {"key": oldest.key, "id": self._ids[oldest.key]}
            if delay is not None:
                self._sleep(delay)
        return None

    def _put_evidence(self, key: str, evidence: dict[str, Any]) -> None:
        if self._properties is False:
            return
        try:
            self._call(
                "PUT",
                f"issue/{_path(key)}/properties/{PROPERTY_KEY}",
                body=evidence,
                safety=Safety.IDEMPOTENT,
                what=f"store the evidence of {key}",
            )
        except JiraPermanentError as exc:
            if exc.status != 404:
                raise
            self._fetch(key)  # a missing issue raises here; otherwise the server has no properties
            log.info("%s does not support issue properties; evidence stays in comments", self._url)
            self._properties = False
            return
        self._properties = True

    def _choose_transition(
        self, key: str, status: str, options: Sequence[Mapping[str, Any]], target: TransitionTarget
    ) -> Mapping[str, Any]:
        wanted = (
            self._settings.done_transition if target == "done" else self._settings.reopen_transition
        )
        chosen = choose_transition(options, target, wanted)
        if chosen is None:
            raise JiraPermanentError(
                f"{key}: no transition {'into' if target == 'done' else 'out of'} the done "
                f"category from status {status!r} (available: "
                f"{', '.join(str(option.get('name')) for option in options) or 'none'})"
            )
        option, by_name = chosen
        if not by_name:
            log.info(
                "%s: no transition named %r from %s; using %r",
                key,
                wanted,
                status,
                option.get("name"),
            )
        return option

    # -- read-only introspection for doctor ------------------------------------------------------

    def sample_ticket(self, *, done: bool) -> Ticket | None:
        """The newest ticket of the project in (or out of) the done category, if any."""
        query = (
            f"project = {jql_quote(self._settings.project)} AND statusCategory "
            f"{'=' if done else '!='} Done ORDER BY created DESC"
        )
        found = self._search(query, limit=1)
        return found[0] if found else None

    def transitions_of(self, key: str) -> list[dict[str, Any]]:
        """The transitions Jira offers for `key` now, with their screens' fields."""
        answer = self._call(
            "GET",
            f"issue/{_path(key)}/transitions",
            params={"expand": "transitions.fields"},
            safety=Safety.READ,
            what=f"list the transitions of {key}",
        )
        return list(answer.get("transitions") or [])

    def _remember(self, key: str, labels: Iterable[str]) -> None:
        """Note a write: Cloud's index may lag behind it for a while."""
        self._written[key] = None
        self._written.move_to_end(key)
        while len(self._written) > MAX_RECONCILE:
            self._written.popitem(last=False)
        for label in labels:
            if label.startswith(MARKER_PREFIX):
                self._marker_keys.setdefault(label, set()).add(key)

    def _reconcile_ids(self) -> list[int]:
        return [self._ids[key] for key in self._written if key in self._ids]


def choose_transition(
    options: Sequence[Mapping[str, Any]], target: TransitionTarget, wanted: str
) -> tuple[Mapping[str, Any], bool] | None:
    """The transition to take, and whether it was found by name.

    By the configured name (of the transition or of the status it leads to) first, among those
    into the done category (done) or out of it (reopen); else any of those: workflows rename
    transitions, but the three status categories are fixed.
    """

    def category(option: Mapping[str, Any]) -> str:
        return str(((option.get("to") or {}).get("statusCategory") or {}).get("key", ""))

    fitting = [option for option in options if (category(option) == "done") == (target == "done")]
    for option in fitting:
        names = {
            str(option.get("name", "")).casefold(),
            str((option.get("to") or {}).get("name", "")).casefold(),
        }
        if wanted.casefold() in names:
            return option, True
    # Reopen prefers a transition back to "to do" over one straight into progress.
    fitting.sort(key=lambda option: (category(option) != "new", str(option.get("id"))))
    return (fitting[0], False) if fitting else None


# -- validation and small helpers ----------------------------------------------------------------


def _check_settings(settings: JiraSettings) -> None:
    parts = urlsplit(settings.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"jira.url: {settings.url!r} is not an http(s) URL")
    if not settings.project.strip():
        raise ConfigError('jira.project: required with tickets.backend = "jira"')
    if not settings.token.get_secret_value():
        raise ConfigError("jira.token: required; set TICKETBRIDGE_JIRA__TOKEN")
    if settings.deployment == "cloud" and not settings.email:
        raise ConfigError("jira.email: Jira Cloud authenticates with email + API token")
    if settings.ca_bundle and not Path(settings.ca_bundle).exists():
        raise ConfigError(f"jira.ca_bundle: {settings.ca_bundle} does not exist")
    try:
        valid_labels(tuple(settings.labels))
    except PermanentBackendError as exc:
        raise ConfigError(f"jira.labels: {exc}") from None


def _secret_forms(email: str, token: str) -> tuple[str, ...]:
    if not token:
        return ()
    basic = base64.b64encode(f"{email}:{token}".encode()).decode()
    return (token, basic)


def _path(key: str) -> str:
    return quote(key, safe="")


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return (project, int(number) if number.isdigit() else 0)


def _timestamp(text: str) -> datetime:
    """Jira's `2026-11-26T21:30:00.000+0000` as an aware datetime."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _resolution(field: Mapping[str, Any]) -> dict[str, str]:
    allowed = [value for value in field.get("allowedValues") or [] if value.get("name")]
    for value in allowed:
        if str(value["name"]).casefold() == "done":
            return {"name": str(value["name"])}
    return {"name": str(allowed[0]["name"])} if allowed else {"name": "Done"}


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The issue property value: JSON, within Jira's 32 KB, endpoints trimmed to fit if need be."""
    endpoints = evidence.get("endpoints")
    if endpoints is not None and (
        isinstance(endpoints, str | bytes) or not all(isinstance(e, str) for e in endpoints)
    ):
        raise JiraPermanentError("evidence: endpoints must be a list of endpoint labels")
    try:
        document: dict[str, Any] = json.loads(
            json.dumps(dict(evidence), default=_json_default, allow_nan=False)
        )
    except (TypeError, ValueError) as exc:
        raise JiraPermanentError(f"evidence: not representable as JSON: {exc}") from exc
    listed = list(document.get("endpoints") or [])
    dropped = 0
    while len(json.dumps(document)) > MAX_PROPERTY and listed:
        cut = max(1, len(listed) // 10)
        listed, dropped = listed[:-cut], dropped + cut
        document["endpoints"] = listed
        document["endpoints_omitted"] = dropped
    return document


def _tracked(properties: Any) -> tuple[str, ...]:
    value = properties.get(PROPERTY_KEY) if isinstance(properties, Mapping) else None
    endpoints = value.get("endpoints") if isinstance(value, Mapping) else None
    if not isinstance(endpoints, list):
        return ()
    return tuple(str(endpoint) for endpoint in endpoints)
