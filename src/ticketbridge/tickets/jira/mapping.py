"""Issue JSON <-> Ticket: what ticketbridge reads from Jira and the evidence it stores there.

Reading is strict about shape: an answer that is not what Jira documents is an error naming
what was odd, never an AttributeError, and never silently read as "nothing there".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final, TypedDict, cast
from urllib.parse import quote

from ticketbridge.core.model import StatusCategory, Ticket
from ticketbridge.core.ports import Comment, TransitionTarget
from ticketbridge.core.timefmt import iso_z
from ticketbridge.tickets.jira.failures import JiraPermanentError, odd
from ticketbridge.tickets.jira.richtext import plain

log = logging.getLogger(__name__)

__all__ = [
    "FIELDS",
    "INTENDED_ASSIGNEE",
    "MAX_PROPERTY",
    "PROPERTY_KEY",
    "UNASSIGNED_LABEL",
    "choose_transition",
    "comment_from",
    "created_key",
    "evidence_value",
    "issue_path",
    "key_order",
    "person",
    "pick_transition",
    "resolution_for",
    "ticket_from",
    "timestamp",
    "tracked_endpoints",
    "unassigned_note",
]

# Jira's own limit on an issue property value (developer.atlassian.com, "Entity properties").
MAX_PROPERTY: Final = 32_768
PROPERTY_KEY: Final = "ticketbridge"
# In the evidence: the configured assignee Jira Cloud could not resolve to an account.
INTENDED_ASSIGNEE: Final = "intended_assignee"
# On a ticket whose owner could not be assigned: Data Center's search returns no issue
# properties, so this label is what tells the next run the assignment was already tried (and a
# converged run still makes search requests only).
UNASSIGNED_LABEL: Final = "ticketbridge-unassigned"
UNASSIGNED_OWNER: Final = "(unassigned: the owner cannot be assigned in Jira; see the evidence)"
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


class IssueJson(TypedDict, total=False):
    """The parts of an issue (GET issue, search) ticketbridge reads."""

    id: str
    key: str
    fields: dict[str, Any]
    properties: dict[str, Any]


def issue_json(raw: Any, what: str) -> IssueJson:
    if not isinstance(raw, dict):
        raise odd(what, f"an issue is {type(raw).__name__}, not an object")
    key, fields = raw.get("key"), raw.get("fields")
    if not isinstance(key, str) or not key:
        raise odd(what, "an issue without a key")
    if not isinstance(fields, dict):
        raise odd(what, f"{key} has no fields")
    issue_id = raw.get("id")
    if issue_id is not None and not str(issue_id).isdigit():
        raise odd(what, f"{key} has the id {str(issue_id)[:40]!r}")
    return cast(IssueJson, raw)


def _object(value: Any, key: str, name: str, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise odd(what, f"{key}: {name} is {type(value).__name__}, not an object")
    return value


def ticket_from(raw: Any, base_url: str, what: str = "read a ticket") -> Ticket:
    """A Ticket from an issue as GET issue or a search returns it."""
    issue = issue_json(raw, what)
    key, fields = issue["key"], issue["fields"]
    status = _object(fields.get("status"), key, "status", what)
    category_of = _object(status.get("statusCategory"), key, "status category", what)
    category = str(category_of.get("key", "new"))
    labels = fields.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise odd(what, f"{key}: labels are not a list of strings")
    due, resolved, created = (
        fields.get("duedate"),
        fields.get("resolutiondate"),
        fields.get("created"),
    )
    try:
        due_date = date.fromisoformat(due) if due else None
        resolved_at = timestamp(resolved) if resolved else None
        created_at = timestamp(created)
    except (TypeError, ValueError):
        raise odd(what, f"{key}: a date Jira did not format as documented") from None
    priority = _object(fields.get("priority"), key, "priority", what).get("name")
    return Ticket(
        key=key,
        summary=str(fields.get("summary") or ""),
        status=str(status.get("name") or ""),
        status_category=cast(StatusCategory, category if category in _CATEGORIES else "new"),
        created=created_at,
        due_date=due_date,
        labels=tuple(labels),
        priority=None if priority is None else str(priority),
        assignee=person(_object(fields.get("assignee"), key, "assignee", what))
        or _intended(issue.get("properties"))
        or (UNASSIGNED_OWNER if UNASSIGNED_LABEL in labels else None),
        resolved_at=resolved_at,
        url=f"{base_url}/browse/{key}",
        tracked_endpoints=tracked_endpoints(issue.get("properties")),
    )


def _intended(properties: Any) -> str | None:
    """Shown as the assignee of an unassigned ticket whose owner Jira could not resolve, so that
    a run does not plan the same impossible assignment (and its comment) again and again."""
    value = properties.get(PROPERTY_KEY) if isinstance(properties, Mapping) else None
    who = value.get(INTENDED_ASSIGNEE) if isinstance(value, Mapping) else None
    return f"{who} (unassigned: not resolvable in Jira)" if isinstance(who, str) and who else None


def unassigned_note(who: str, why: str | None = None) -> str:
    """The line an evidence comment carries when the intended assignee could not be assigned."""
    reason = why or (
        f"Jira Cloud returns no account for {who!r} (hidden e-mail or no permission to browse "
        "users)"
    )
    return f"Not assigned: {reason}; the intended assignee is {who}."


def person(user: Mapping[str, Any] | None) -> str | None:
    if not user:
        return None
    # Data Center names users by username; Cloud hides it (GDPR): the display name is the one
    # thing people recognise there.
    for field in ("name", "displayName", "accountId"):
        if user.get(field):
            return str(user[field])
    return None


def comment_from(raw: Any, what: str) -> Comment:
    if not isinstance(raw, dict):
        raise odd(what, f"a comment is {type(raw).__name__}, not an object")
    author = raw.get("author")
    try:
        created = timestamp(raw.get("created"))
    except (TypeError, ValueError):
        raise odd(what, "a comment without a creation time") from None
    return Comment(
        author=person(author if isinstance(author, dict) else None) or "",
        body=plain(raw.get("body")),
        created=created,
    )


def issue_path(key: str) -> str:
    return quote(key, safe="")


def key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return (project, int(number) if number.isdigit() else 0)


def timestamp(text: Any) -> datetime:
    """Jira's `2026-11-26T21:30:00.000+0000` as an aware datetime (ValueError otherwise)."""
    if not isinstance(text, str):
        raise ValueError(f"not a timestamp: {text!r}")
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"a timestamp without a zone: {text!r}")
    return moment


# A renewed certificate's ticket is finished work: the resolutions that say so, best first.
_FINISHED: Final = ("done", "fixed", "resolved", "complete", "completed")


def resolution_for(field: Mapping[str, Any]) -> dict[str, str]:
    """The resolution to set on a transition screen, among its `allowedValues`: one that says
    the work is finished ("Done", "Fixed", ...) when offered, else the first offered."""
    allowed = [
        str(value["name"])
        for value in field.get("allowedValues") or []
        if isinstance(value, dict) and value.get("name")
    ]
    by_name = {name.casefold(): name for name in reversed(allowed)}
    for wanted in _FINISHED:
        if wanted in by_name:
            return {"name": by_name[wanted]}
    return {"name": allowed[0]} if allowed else {"name": "Done"}


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


def transitions_from(answer: Any, what: str) -> list[dict[str, Any]]:
    """The `transitions` of a GET transitions answer, each an object with an id."""
    listed = answer.get("transitions") if isinstance(answer, dict) else None
    if not isinstance(listed, list):
        raise odd(what, "no list of transitions")
    for option in listed:
        if not isinstance(option, dict) or "id" not in option:
            raise odd(what, "a transition without an id")
        for part in ("to", "fields"):
            if option.get(part) is not None and not isinstance(option[part], dict):
                raise odd(what, f"a transition whose {part} is not an object")
        # The target status's category is a StatusCategory object (CLOUD3 getTransitions);
        # a string there would otherwise surface as an AttributeError mid-run.
        category = (option.get("to") or {}).get("statusCategory")
        if category is not None and not isinstance(category, dict):
            raise odd(what, "a transition whose target's statusCategory is not an object")
    return listed


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return iso_z(value, "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def evidence_value(evidence: Mapping[str, Any]) -> dict[str, Any]:
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


def tracked_endpoints(properties: Any) -> tuple[str, ...]:
    value = properties.get(PROPERTY_KEY) if isinstance(properties, Mapping) else None
    endpoints = value.get("endpoints") if isinstance(value, Mapping) else None
    if not isinstance(endpoints, list):
        return ()
    return tuple(str(endpoint) for endpoint in endpoints)


def pick_transition(
    key: str,
    status: str,
    options: Sequence[Mapping[str, Any]],
    target: TransitionTarget,
    wanted: str,
) -> Mapping[str, Any]:
    """`choose_transition`, or the one-line error naming what the workflow does offer."""
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
            "%s: no transition named %r from %s; using %r", key, wanted, status, option.get("name")
        )
    return option


def created_key(answer: Any) -> tuple[str, int]:
    """The key and id of a create's answer (`{"id", "key", "self"}`), or a one-line error."""
    what = "create a ticket"
    if not isinstance(answer, dict):
        raise odd(what, "not a JSON object")
    key, issue_id = answer.get("key"), answer.get("id")
    if not isinstance(key, str) or not key or not str(issue_id or "").isdigit():
        raise odd(what, "no key and id of the new issue")
    return key, int(str(issue_id))
