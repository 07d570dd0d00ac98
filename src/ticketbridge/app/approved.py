"""Saved plan files: write one for review (`plan --out`), read one back for approval or display."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ticketbridge.core.approval import SAVED_PLAN_VERSION, PlanFacts, saved_plan, saved_plan_id
from ticketbridge.core.plan import Plan
from ticketbridge.errors import UsageError

# A plan for a large fleet is a few MB; anything far beyond that is not a saved plan.
MAX_SAVED_PLAN_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A plan file as read back: where it is, its id, and the document a person reviewed."""

    path: Path
    plan_id: str
    document: Mapping[str, Any]
    approved_by: str | None = None


def write_saved_plan(path: Path, plan: Plan, facts: PlanFacts) -> dict[str, Any]:
    """Write the plan atomically (a reviewer never reads half a file) and return the document."""
    document = saved_plan(plan, facts)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UsageError(f"--out {path}: {exc.strerror or exc}") from None
    return document


def read_saved_plan(path: Path, option: str = "--plan") -> SavedPlan:
    """A saved plan, checked: readable JSON from `plan --out`, its id matching its actions."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SAVED_PLAN_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SAVED_PLAN_BYTES:
        raise UsageError(f"{option} {path}: larger than any saved plan ({len(raw)}+ bytes)")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{option} {path}: not JSON from `plan --out`: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("plan_id"), str):
        raise UsageError(
            f"{option} {path}: not a saved plan (no plan_id); make one with plan --out"
        )
    version = document.get("version")
    if not isinstance(version, int) or version > SAVED_PLAN_VERSION:
        raise UsageError(
            f"{option} {path}: saved-plan version {version!r} is not one this ticketbridge reads"
        )
    if not isinstance(document.get("actions"), list):
        raise UsageError(f"{option} {path}: actions: must be a list")
    try:
        recomputed = saved_plan_id(document)
    except (AttributeError, TypeError) as exc:
        raise UsageError(f"{option} {path}: actions: malformed ({exc})") from None
    if recomputed != document["plan_id"]:
        # What a person reviewed is the actions; an id that does not cover them approves
        # something else.
        raise UsageError(
            f"{option} {path}: plan_id does not match the actions in the file (edited after "
            "plan --out?); make a new plan with plan --out"
        )
    return SavedPlan(path=path, plan_id=document["plan_id"], document=document)
