"""What went wrong talking to Jira: the error kinds, what Jira said, answers without its shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ticketbridge.errors import PermanentBackendError, TransientBackendError
from ticketbridge.infra.retrying import Failure, parse_retry_after
from ticketbridge.infra.scrub import outside_detail

__all__ = [
    "JiraPermanentError",
    "JiraTransientError",
    "classify",
    "error_detail",
    "expect_object",
    "odd",
    "refusal",
]


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


def classify(exc: BaseException) -> Failure | None:
    return exc.failure if isinstance(exc, JiraTransientError) else None


def error_detail(status: int, headers: Mapping[str, str], content: bytes) -> str:
    """What Jira said went wrong: `errorMessages` and `errors`, else the body as text.

    Jira's error shape is `{"errorMessages": [...], "errors": {field: message}}`
    (developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#status-codes); an older
    `message`/`errorMessage` form and a 403 `X-Authentication-Denied-Reason` header also occur.
    """
    denied = {k.lower(): v for k, v in headers.items()}.get("x-authentication-denied-reason")
    if status == 403 and denied:
        return denied
    text = content.decode("utf-8", "replace")
    try:
        data = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):  # nested past the parser's depth: quoted as text
        return text
    if not isinstance(data, dict):
        return text
    found: list[str] = []
    for key in ("message", "errorMessage"):
        if isinstance(data.get(key), str):
            found = [data[key]]
    messages = data.get("errorMessages")
    if isinstance(messages, list) and messages:
        found = [str(message) for message in messages]
    errors = data.get("errors")
    if isinstance(errors, dict) and errors:
        found = [str(value) for value in errors.values()]
    return ", ".join(found)


def refusal(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    what: str,
    *,
    authenticated: bool,
    now: datetime,
    max_retry_after: float,
    scoped_hint: bool = False,
) -> PermanentBackendError | TransientBackendError:
    """The error for an HTTP status of 400 or more, saying what Jira said."""
    detail = outside_detail(error_detail(status, headers, content).strip())
    if status == 429 or status >= 500:
        wait = parse_retry_after(headers, now)
        reason = "rate limited" if status == 429 else "Jira failed"
        message = f"{what}: {reason} (HTTP {status}){': ' + detail if detail else ''}"
        if wait is not None and wait > max_retry_after:
            message += (
                f"; Jira asked to wait {wait:,.0f}s, longer than the retry budget of "
                f"{max_retry_after:g}s: try again later"
            )
        # A 429 is a refusal: Atlassian's rate-limiting reference says to wait Retry-After
        # "before reissuing the request" (developer.atlassian.com/cloud/jira/platform/
        # rate-limiting), so a write refused with it is sent again without the marker
        # searches that a failure which may have landed needs.
        refused = status == 429
        failure = Failure(True, delivered=not refused, retry_after=wait)
        return JiraTransientError(message, failure, status)
    if status == 401 and authenticated:
        scoped = (
            "; a scoped API token (a service account's) must call Atlassian's gateway: "
            'set jira.cloud_id (or "discover")'
            if scoped_hint
            else ""
        )
        return JiraPermanentError(
            f"{what}: Jira refused the credentials (HTTP 401); check jira.email and "
            f"jira.token{scoped}",
            status,
        )
    if status == 401:
        # No credentials were sent: the site wants them even for this call (a site that
        # hides serverInfo from anonymous callers); nothing is known about the token yet.
        return JiraPermanentError(
            f"{what}: Jira asks for credentials for this call (HTTP 401 without credentials sent)",
            status,
        )
    suffix = f": {detail}" if detail else ""
    return JiraPermanentError(f"{what}: Jira answered HTTP {status}{suffix}", status)


def odd(what: str, detail: str) -> JiraPermanentError:
    """The error for an answer without the documented shape: nothing is written after it."""
    return JiraPermanentError(f"{what}: unexpected answer from Jira: {detail}")


def expect_object(answer: Any, what: str) -> dict[str, Any]:
    """`answer` when it is a JSON object; otherwise the one-line error an odd answer deserves."""
    if not isinstance(answer, dict):
        raise JiraPermanentError(f"{what}: Jira answered {_kind(answer)}, not a JSON object")
    return answer


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )
