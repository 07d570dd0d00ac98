"""Ticket field limits every backend enforces, their validators, and the helpers that make text fit.

The limits are Jira's (the strictest backend); the local store and the in-memory fake enforce the
same ones, so a plan that applies on one applies on all. The planner bounds what it writes with
`infra.escape.one_line`, `shorten`, `listed` and `fit`, and `tests/unit/test_field_bounds.py` proves no plan can
hold a write a backend would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ticketbridge.errors import PermanentBackendError
from ticketbridge.infra.escape import one_line

# Jira Cloud REST v3 / Data Center: summary "must be less than 255 characters"; labels at most
# 255 characters, no whitespace; a text field (description, comment) at most 32,767 characters;
# an entity (issue) property value at most 32,768 bytes of JSON
# (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-properties/).
MAX_SUMMARY = 255
MAX_LABEL = 255
MAX_COMMENT = 32_767
MAX_DESCRIPTION = 32_767
MAX_PROPERTY = 32_768
# What the planner allows itself for a description or comment. On Data Center the Jira adapter
# wraps text in `{noformat}` and breaks every `{noformat}` inside it with a word joiner: at most
# one character more per ten, plus the wrapper. 29,000 characters always fit in 32,767.
TEXT_BUDGET = 29_000
# One certificate name, subject or endpoint label as it appears in ticket text.
MAX_SHOWN_TEXT = 200


def valid_summary(summary: str) -> str:
    """A summary as Jira accepts it: one non-empty line of at most 255 characters."""
    if not summary.strip():
        raise PermanentBackendError("summary: must not be empty")
    if len(summary) > MAX_SUMMARY:
        raise PermanentBackendError(f"summary: {len(summary)} characters, at most {MAX_SUMMARY}")
    if "\n" in summary or "\r" in summary:
        raise PermanentBackendError("summary: must be a single line")
    return summary


def valid_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Labels as Jira accepts them (non-empty, no whitespace, at most 255), de-duplicated."""
    for label in labels:
        if not label or any(character.isspace() for character in label):
            raise PermanentBackendError(f"label {label!r}: must be non-empty, without spaces")
        if len(label) > MAX_LABEL:
            raise PermanentBackendError(f"label {label[:40]!r}...: longer than {MAX_LABEL}")
    return tuple(dict.fromkeys(labels))


def valid_comment(body: str) -> str:
    if not body.strip():
        raise PermanentBackendError("comment: body must not be empty")
    if len(body) > MAX_COMMENT:
        raise PermanentBackendError(f"comment: {len(body)} characters, at most {MAX_COMMENT}")
    return body


def valid_description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise PermanentBackendError(
            f"description: {len(text)} characters, at most {MAX_DESCRIPTION}"
        )
    return text


def valid_field(name: str, value: str) -> str:
    """A short single-line value: a priority, an assignee."""
    if not value.strip() or len(value) > MAX_SUMMARY or "\n" in value:
        raise PermanentBackendError(f"{name} {value[:40]!r}: not a valid value")
    return value


def evidence_size(evidence: Mapping[str, Any]) -> int:
    """The bytes of the issue property as Jira measures it: compact JSON, UTF-8."""
    return len(
        json.dumps(dict(evidence), separators=(",", ":"), ensure_ascii=False, default=str).encode()
    )


def valid_evidence(evidence: Mapping[str, Any]) -> Mapping[str, Any]:
    size = evidence_size(evidence)
    if size > MAX_PROPERTY:
        raise PermanentBackendError(f"evidence: {size} bytes of JSON, at most {MAX_PROPERTY}")
    return evidence


# --- making outside text fit ---------------------------------------------------------------


def shorten(text: str, limit: int = MAX_SHOWN_TEXT) -> str:
    """One line of at most `limit` characters, marked with … where it was cut."""
    return one_line(text, limit)


def listed(items: Sequence[str], budget: int, *, separator: str = ", ") -> str:
    """As many items as fit in `budget` characters, then "and 9,996 more"."""
    shown: list[str] = []
    used = 0
    for index, item in enumerate(items):
        text = shorten(item)
        rest = len(items) - index - 1
        tail = len(f" and {rest + 1:,} more")
        if used + len(separator) + len(text) + (tail if rest else 0) > budget and shown:
            return separator.join(shown) + f" and {len(items) - index:,} more"
        shown.append(text)
        used += len(separator) + len(text)
    return separator.join(shown)


def fit(text: str, limit: int = TEXT_BUDGET) -> str:
    """The text cut at a line boundary to at most `limit` characters, saying what was left out."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    used = 0
    reserve = 120
    for line in lines:
        if used + len(line) + 1 > limit - reserve:
            break
        kept.append(line)
        used += len(line) + 1
    omitted = len(lines) - len(kept)
    note = f"… and {omitted:,} more lines: the full detail is in the audit trail and the report."
    if not kept:
        return text[: limit - len(note) - 1] + "\n" + note
    return "\n".join([*kept, note])
