"""Comments and the stored evidence of one issue: reading them, and writing a comment once."""

from __future__ import annotations

from typing import Any

from ticketbridge.core.ports import Comment
from ticketbridge.infra.retrying import Safety
from ticketbridge.tickets.jira.api import JiraApi
from ticketbridge.tickets.jira.failures import odd
from ticketbridge.tickets.jira.mapping import PROPERTY_KEY, comment_from, issue_path
from ticketbridge.tickets.jira.richtext import plain

__all__ = ["comment_landed", "post_comment", "read_comments", "stored_evidence"]


def read_comments(api: JiraApi, key: str) -> list[Comment]:
    """Every comment of `key`, oldest first, page by page."""
    found: list[Comment] = []
    what = f"read the comments of {key}"
    while True:
        page = api.call(
            "GET",
            f"issue/{issue_path(key)}/comment",
            params={"startAt": len(found), "maxResults": 100, "orderBy": "created"},
            safety=Safety.READ,
            what=what,
        )
        batch = page.get("comments") if isinstance(page, dict) else None
        if not isinstance(batch, list):
            raise odd(what, "no list of comments")
        found.extend(comment_from(raw, what) for raw in batch)
        total = page.get("total", len(found))
        if not batch or not isinstance(total, int) or len(found) >= total:
            return found


def stored_evidence(api: JiraApi, key: str) -> dict[str, Any]:
    """The evidence property of `key` as stored ({} without one)."""
    raw = api.call(
        "GET",
        f"issue/{issue_path(key)}",
        params={"fields": "summary", "properties": PROPERTY_KEY},
        safety=Safety.READ,
        what=f"read the evidence of {key}",
    )
    stored = (raw.get("properties") or {}) if isinstance(raw, dict) else {}
    value = stored.get(PROPERTY_KEY) if isinstance(stored, dict) else None
    return dict(value) if isinstance(value, dict) else {}


def post_comment(api: JiraApi, key: str, body: Any, text: str) -> None:
    api.call(
        "POST",
        f"issue/{issue_path(key)}/comment",
        body={"body": body},
        safety=Safety.UNSAFE,
        verify=lambda: comment_landed(api, key, text),
        what=f"comment on {key}",
    )


def comment_landed(api: JiraApi, key: str, text: str) -> bool | None:
    """True when the newest comments of `key` include exactly `text` (a lost answer landed)."""
    page = api.call(
        "GET",
        f"issue/{issue_path(key)}/comment",
        params={"orderBy": "-created", "maxResults": 20},
        safety=Safety.READ,
        what=f"check the comments of {key}",
    )
    listed = page.get("comments") if isinstance(page, dict) else None
    if not isinstance(listed, list):
        raise odd(f"check the comments of {key}", "no list of comments")
    bodies = {plain(raw.get("body")) for raw in listed if isinstance(raw, dict)}
    return True if text in bodies else None
