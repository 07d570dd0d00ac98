"""The report's pictures as geometry: the expiry timeline and the runs over the window, for inline SVG.

Only numbers and short labels leave this module; the template draws them, autoescaped, so the
pictures need no script, no font or image fetched, and keep the report's strict CSP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["ExpiryChart", "RunsChart", "expiry_chart", "runs_chart"]

WIDTH = 960
LABEL_WIDTH = 250
ROW_HEIGHT = 24
TOP = 44
# Days shown right of today at least, and at most: a certificate further out is drawn to the
# edge with its real count written beside it.
MIN_SPAN, MAX_SPAN = 60, 100
DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Line:
    x: float
    label: str
    kind: str  # today | page | escalate | lead | horizon


@dataclass(frozen=True, slots=True)
class Row:
    y: float
    label: str
    status: str
    days_left: float
    bar_x: float
    bar_width: float
    urgency: str  # expired | page | escalate | lead | ok
    expiry_x: float
    beyond: bool
    due_x: float | None
    due_text: str
    was_x: float | None
    # The stretch where the ticket is due after the certificate expires: the incident's gap.
    late_x: float | None
    late_width: float


@dataclass(frozen=True, slots=True)
class ExpiryChart:
    width: int
    height: int
    plot_x: int
    plot_width: int
    lines: tuple[Line, ...]
    ticks: tuple[tuple[float, str], ...]
    rows: tuple[Row, ...]


def _days(text: Any, now: datetime) -> float | None:
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - now).total_seconds() / DAY_SECONDS


def _due_days(text: Any, now: datetime) -> float | None:
    """A due date means the start of that day: a ticket due on the expiry day is already late."""
    try:
        day = date.fromisoformat(str(text))
    except ValueError:
        return None
    return _days(datetime.combine(day, datetime.min.time(), UTC).isoformat(), now)


def _urgency(days_left: float, policy: Mapping[str, Any]) -> str:
    if days_left < 0:
        return "expired"
    for name, key in (("page", "page_within_days"), ("escalate", "escalate_within_days")):
        if isinstance(policy.get(key), int) and days_left <= policy[key]:
            return name
    if isinstance(policy.get("lead_days"), int) and days_left <= policy["lead_days"]:
        return "lead"
    return "ok"


def _label(names: Sequence[Any], limit: int = 30) -> str:
    text = ", ".join(str(name) for name in names) or "(no names)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def expiry_chart(
    certificates: Iterable[Mapping[str, Any]], policy: Mapping[str, Any], now: datetime
) -> ExpiryChart:
    """One row per certificate: days left to its effective expiry against the policy's lines,
    with its ticket's due date (and the due date it had before a correction) beside it."""
    entries = [c for c in certificates if _days(c.get("effective_not_after"), now) is not None]
    lefts = [_days(c["effective_not_after"], now) or 0.0 for c in entries]
    horizon = policy.get("ticket_horizon_days")
    wanted = max([MIN_SPAN, *(d + 5 for d in lefts), (horizon or 0) + 10])
    dues = [_due_days(c.get("due_date"), now) for c in entries if c.get("due_date")]
    start = max(
        -60.0, min([-7.0, *(d - 3 for d in lefts), *(d - 3 for d in dues if d is not None)])
    )
    end = min(float(MAX_SPAN), wanted)
    plot_x, plot_width = LABEL_WIDTH, WIDTH - LABEL_WIDTH - 20

    def x_of(days: float) -> float:
        clamped = min(max(days, start), end)
        return round(plot_x + (clamped - start) / (end - start) * plot_width, 1)

    rows = [_row(i, entry, now, policy, x_of, end) for i, entry in enumerate(entries)]
    lines = [Line(x_of(0), "today", "today")]
    for kind, key, text in (
        ("page", "page_within_days", "page"),
        ("escalate", "escalate_within_days", "escalate"),
        ("lead", "lead_days", "lead time"),
        ("horizon", "ticket_horizon_days", "ticket horizon"),
    ):
        if isinstance(policy.get(key), int) and start < policy[key] < end:
            lines.append(Line(x_of(policy[key]), f"{text} {policy[key]} d", kind))
    step = 7 if end - start <= 120 else 30
    first_tick = int(start // step + 1) * step
    ticks = tuple((x_of(day), f"{day:+d} d") for day in range(first_tick, int(end), step))
    height = TOP + ROW_HEIGHT * max(len(rows), 1) + 28
    return ExpiryChart(WIDTH, height, plot_x, plot_width, tuple(lines), ticks, tuple(rows))


def _row(
    index: int,
    entry: Mapping[str, Any],
    now: datetime,
    policy: Mapping[str, Any],
    x_of: Any,
    end: float,
) -> Row:
    left = _days(entry["effective_not_after"], now) or 0.0
    due = _due_days(entry.get("due_date"), now) if entry.get("due_date") else None
    was = _due_days(entry.get("due_date_before"), now) if entry.get("due_date_before") else None
    zero, expiry_x = x_of(0), x_of(left)
    late_from = [d for d in (due, was) if d is not None and d > left]
    late_x = expiry_x if late_from else None
    late_width = (x_of(max(late_from)) - expiry_x) if late_from else 0.0
    due_text = (
        f"ticket due {entry['due_date']}" if entry.get("due_date") else "no due date recorded"
    )
    if entry.get("due_date_before") and entry.get("due_date_before") != entry.get("due_date"):
        due_text += f" (was {entry['due_date_before']})"
    return Row(
        y=TOP + index * ROW_HEIGHT,
        label=_label(entry.get("names") or []),
        status=str(entry.get("status") or ""),
        days_left=round(left, 1),
        bar_x=min(zero, expiry_x),
        bar_width=abs(expiry_x - zero),
        urgency=_urgency(left, policy),
        expiry_x=expiry_x,
        beyond=left > end,
        due_x=x_of(due) if due is not None else None,
        due_text=due_text,
        was_x=x_of(was) if was is not None and was != due else None,
        late_x=late_x,
        late_width=round(late_width, 1),
    )


@dataclass(frozen=True, slots=True)
class RunsChart:
    width: int
    height: int
    plot_x: int
    bar_width: float
    baseline: float
    bars: tuple[tuple[float, float, float, str], ...]  # x, y, height, title
    idle_days: tuple[tuple[float, str], ...]  # x, title
    gaps: tuple[tuple[float, float, str], ...]  # x, width, title
    ticks: tuple[tuple[float, str], ...]


def runs_chart(operation: Mapping[str, Any]) -> RunsChart:
    """Runs per day over the window as bars; days without a run, and gaps longer than the
    schedule, marked in red."""
    days = list(operation.get("days") or [])
    plot_x, plot_width, plot_height, top = 60, WIDTH - 80, 70, 10
    # A short window gets bars a few days wide, not one bar across the page.
    step = min(plot_width / max(len(days), 1), 40.0)
    peak = max([1, *(int(day["runs"]) for day in days)])
    baseline = top + plot_height
    bars, idle = [], []
    for index, day in enumerate(days):
        x = round(plot_x + index * step, 2)
        count = int(day["runs"])
        if count:
            height = round(count / peak * plot_height, 1)
            bars.append((x, round(baseline - height, 1), height, f"{day['date']}: {count} runs"))
        else:
            idle.append((x, f"{day['date']}: no run"))
    first = date.fromisoformat(days[0]["date"]) if days else None
    gaps = []
    for gap in operation.get("gaps") or []:
        if first is None:
            break
        begin = _days(gap["from"], datetime.combine(first, datetime.min.time(), UTC)) or 0.0
        finish = _days(gap["to"], datetime.combine(first, datetime.min.time(), UTC)) or 0.0
        gaps.append(
            (
                round(plot_x + begin * step, 2),
                round(max((finish - begin) * step, 1.0), 2),
                f"no run for {gap['hours']} h: {gap['from']} to {gap['to']}",
            )
        )
    every = max(1, len(days) // 12)
    ticks = tuple(
        (round(plot_x + index * step, 2), day["date"][5:])
        for index, day in enumerate(days)
        if index % every == 0
    )
    return RunsChart(
        WIDTH,
        baseline + 26,
        plot_x,
        round(max(step - 1, 1), 2),
        baseline,
        tuple(bars),
        tuple(idle),
        tuple(gaps),
        ticks,
    )
