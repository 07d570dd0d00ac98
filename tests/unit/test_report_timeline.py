"""The report's pictures as geometry: where the expiry, the due date and the policy lines fall."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ticketbridge.audit.timeline import WIDTH, expiry_chart, runs_chart

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = {"lead_days": 21, "ticket_horizon_days": 45, "escalate_within_days": 14,
          "page_within_days": 3}  # fmt: skip


def cert(
    expiry: str, due: str | None = None, was: str | None = None, **more: Any
) -> dict[str, Any]:
    return {"names": ["a.example.com"], "effective_not_after": expiry, "due_date": due,
            "due_date_before": was, "status": "corrected", **more}  # fmt: skip


def test_a_ticket_due_after_the_expiry_is_drawn_as_the_gap() -> None:
    # The incident: the certificate expires in 5 days, the ticket was due in 9 months.
    chart = expiry_chart([cert("2026-12-05T12:00:00Z", due="2027-09-01")], POLICY, NOW)

    (row,) = chart.rows
    assert row.days_left == 5.0 and row.urgency == "escalate"
    assert row.late_x == row.expiry_x and row.late_width > 0
    assert row.due_x is not None and row.due_x > row.expiry_x
    assert row.due_text == "ticket due 2027-09-01"


def test_a_corrected_due_date_shows_where_it_was() -> None:
    chart = expiry_chart(
        [cert("2026-12-25T12:00:00Z", due="2026-12-04", was="2027-09-01")], POLICY, NOW
    )

    (row,) = chart.rows
    assert row.due_x is not None and row.was_x is not None
    assert row.due_x < row.expiry_x < row.was_x
    # The old due date was after the expiry: the gap it left stays visible.
    assert row.late_x == row.expiry_x and row.late_width > 0
    assert row.due_text == "ticket due 2026-12-04 (was 2027-09-01)"
    assert row.urgency == "ok"


def test_a_due_date_before_the_expiry_leaves_no_gap_and_no_due_date_no_marker() -> None:
    timely, untracked = expiry_chart(
        [cert("2027-01-10T00:00:00Z", due="2026-12-20"), cert("2027-01-11T00:00:00Z")],
        POLICY,
        NOW,
    ).rows

    assert timely.late_x is None and timely.late_width == 0
    assert untracked.due_x is None and untracked.due_text == "no due date recorded"


def test_urgency_follows_the_policy_lines_and_far_expiries_stop_at_the_edge() -> None:
    chart = expiry_chart(
        [
            cert("2026-11-29T12:00:00Z"),
            cert("2026-12-02T12:00:00Z"),
            cert("2026-12-10T12:00:00Z"),
            cert("2026-12-20T12:00:00Z"),
            cert("2027-11-30T12:00:00Z"),
        ],
        POLICY,
        NOW,
    )

    assert [row.urgency for row in chart.rows] == ["expired", "page", "escalate", "lead", "ok"]
    far = chart.rows[-1]
    assert far.beyond and far.expiry_x == chart.plot_x + chart.plot_width
    assert far.days_left == 365.0
    kinds = [line.kind for line in chart.lines]
    assert kinds == ["today", "page", "escalate", "lead", "horizon"]
    xs = [line.x for line in chart.lines]
    assert xs == sorted(xs) and all(chart.plot_x <= x <= WIDTH for x in xs)
    expired = chart.rows[0]
    assert expired.bar_x == expired.expiry_x < chart.lines[0].x  # drawn left of today


def test_rows_are_stacked_and_labels_shortened() -> None:
    long_names = [f"host{n}.example.com" for n in range(10)]
    chart = expiry_chart(
        [cert("2027-01-01T00:00:00Z", names=long_names), cert("2027-01-02T00:00:00Z")],
        POLICY,
        NOW,
    )

    first, second = chart.rows
    assert second.y - first.y == 24 and chart.height > second.y
    assert first.label.endswith("…") and len(first.label) == 30
    assert expiry_chart([], POLICY, NOW).rows == ()


def test_runs_chart_draws_a_bar_per_day_and_marks_idle_days_and_gaps() -> None:
    operation = {
        "days": [
            {"date": "2026-11-01", "runs": 2},
            {"date": "2026-11-02", "runs": 0},
            {"date": "2026-11-03", "runs": 1},
        ],
        "gaps": [{"from": "2026-11-01T12:00:00Z", "to": "2026-11-03T00:00:00Z", "hours": 36.0}],
    }

    chart = runs_chart(operation)

    (first, second) = chart.bars
    assert first[2] == 2 * second[2]  # heights proportional to the runs that day
    assert first[1] + first[2] == chart.baseline == second[1] + second[2]
    assert [title for _, title in chart.idle_days] == ["2026-11-02: no run"]
    (gap,) = chart.gaps
    assert gap[0] > first[0] and gap[0] + gap[1] <= second[0] + 0.01
    assert "36.0 h" in gap[2]
