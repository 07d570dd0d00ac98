"""SPEC's `reconcile --format json` document, whole: the plan's shape with what happened to each
action (applied, the error, the ticket written, a note, an outcome that may have landed)."""

from __future__ import annotations

import json

from support.builders import NOW
from ticketbridge.core.apply import ActionResult, ApplyReport
from ticketbridge.core.plan import Action, ActionKind, CertificateSummary, Plan

CERT = CertificateSummary(id="c1", names=("www.example.com",))


def action(kind: ActionKind, ticket: str | None, reason: str = "why") -> Action:
    return Action(kind, ticket, CERT, reason)


def test_a_result_is_its_action_with_what_happened() -> None:
    create = action(ActionKind.CREATE, None)
    written = ActionResult(create, applied=True, ticket="OPS-9", note="edited instead")
    assert written.as_dict() == {
        **create.as_dict(),
        "ticket": "OPS-9",
        "applied": True,
        "error": None,
        "note": "edited instead",
    }
    update = action(ActionKind.UPDATE, "OPS-3")
    lost = ActionResult(update, applied=False, error="edit failed: 502", outcome_unknown=True)
    assert lost.as_dict() == {
        **update.as_dict(),
        "ticket": "OPS-3",
        "applied": False,
        "error": "edit failed: 502",
        "outcome_unknown": True,
    }
    plain = ActionResult(update, applied=True).as_dict()
    assert "note" not in plain and "outcome_unknown" not in plain


def test_the_report_counts_what_was_applied_and_what_failed() -> None:
    plan = Plan.of(
        NOW,
        [
            action(ActionKind.CREATE, None, "é"),
            action(ActionKind.UPDATE, "OPS-3"),
            action(ActionKind.AMBIGUOUS, "OPS-4"),
        ],
    )
    create, update, ambiguous = plan.actions
    results = (
        ActionResult(create, applied=True, ticket="OPS-9"),
        ActionResult(update, applied=False, error="edit failed"),
        ActionResult(ambiguous, applied=False, note="report only"),
    )
    report = ApplyReport(plan, results)
    assert (report.ok, report.applied, report.failures) == (False, 1, (results[1],))
    document = report.as_dict()
    assert document == {
        "generated_at": "2026-11-26T21:30:00Z",
        "summary": plan.summary,
        "writes": 2,
        "applied": 1,
        "failed": 1,
        "actions": [result.as_dict() for result in results],
    }
    assert json.loads(report.to_json()) == document
    assert report.to_json().startswith('{\n  "generated_at"')
    assert '"reason": "é"' in report.to_json()
    assert report.to_json(indent=None).startswith('{"generated_at": ')
    assert ApplyReport(plan, results[:1]).ok is True
