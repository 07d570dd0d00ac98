"""Write-ahead intents: each ticket write and page is recorded (and fsync'd) before it is sent,
and a later run settles every intent whose outcome never reached the log."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ticketbridge.audit import records
from ticketbridge.audit.log import AuditLog, read_records
from ticketbridge.audit.records import Intent, IntentResolved
from ticketbridge.core.model import Ticket
from ticketbridge.core.plan import PageEvent
from ticketbridge.core.ports import (
    Comment,
    NewTicket,
    Pager,
    TicketEdit,
    TicketSystem,
    TransitionTarget,
)
from ticketbridge.errors import TransientBackendError, WriteOutcomeUnknown


class JournaledTicketSystem:
    """A TicketSystem that writes an intent record before every write it passes on.

    If the intent cannot be written (a full disk), the write is not made: the audit trail
    never lags behind the ticket system by more than what the next run can settle.

    `held` names certificates whose earlier create may have landed unseen (an open intent
    younger than the search index's lag): no create is sent for them, and the action fails.
    A create whose answer is lost in this run joins them for the rest of the run.
    """

    def __init__(
        self,
        inner: TicketSystem,
        audit: AuditLog,
        *,
        held: Mapping[str, OpenIntent] | None = None,
    ) -> None:
        self.inner = inner
        self.audit = audit
        self.held = dict(held or {})

    def open_tickets(self) -> Sequence[Ticket]:
        return self.inner.open_tickets()

    def find_by_marker(self, certificate_id: str) -> Sequence[Ticket]:
        return self.inner.find_by_marker(certificate_id)

    def comments(self, key: str) -> Sequence[Comment]:
        return self.inner.comments(key)

    def create(self, ticket: NewTicket, comment: str) -> Ticket:
        detail = {
            "summary": ticket.summary,
            "due_date": ticket.due_date.isoformat(),
            "labels": list(ticket.labels),
            "priority": ticket.priority,
        }
        earlier = self.held.get(ticket.certificate_id)
        if earlier is not None:
            raise TransientBackendError(
                f"not created: the create of run {earlier.run} ({earlier.time or 'this run'}) "
                "may have landed where the search cannot show it yet; a later run creates "
                "again only if the marker search still finds nothing once the index has caught up"
            )
        seq = self.audit.intent(Intent("create", ticket.certificate_id, None, detail))
        try:
            return self.inner.create(ticket, comment)
        except WriteOutcomeUnknown:
            run = self.audit.run or ""
            self.held[ticket.certificate_id] = OpenIntent(run, seq, {"operation": "create"})
            raise

    def edit(self, key: str, edit: TicketEdit, comment: str) -> Ticket:
        detail = {
            "due_date": edit.due_date.isoformat() if edit.due_date else None,
            "add_labels": list(edit.add_labels),
            "priority": edit.priority,
            "assignee": edit.assignee,
        }
        certificate_id = (edit.evidence or {}).get("certificate_id") or _marker_of(edit.add_labels)
        self.audit.intent(Intent("edit", certificate_id, key, detail))
        return self.inner.edit(key, edit, comment)

    def add_comment(self, key: str, body: str) -> None:
        self.audit.intent(Intent("comment", None, key, {"characters": len(body)}))
        self.inner.add_comment(key, body)

    def transition(self, key: str, target: TransitionTarget, comment: str) -> Ticket:
        self.audit.intent(Intent("transition", None, key, {"target": target}))
        return self.inner.transition(key, target, comment)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


class JournaledPager:
    """A Pager that writes an intent record before every event it sends."""

    def __init__(self, inner: Pager, audit: AuditLog) -> None:
        self.inner = inner
        self.audit = audit

    def send(self, event: PageEvent) -> None:
        detail = {"event": event.event, "dedup_key": event.dedup_key}
        self.audit.intent(Intent("page", event.dedup_key, event.ticket, detail))
        self.inner.send(event)


def _marker_of(labels: Sequence[str]) -> str | None:
    for label in labels:
        if label.startswith("tb-"):
            return label.removeprefix("tb-")
    return None


@dataclass(frozen=True, slots=True)
class OpenIntent:
    """An intent whose run recorded no outcome after it (nor has a later run settled it)."""

    run: str
    seq: int
    data: dict[str, Any]
    time: str = ""


def unsettled_intents(path: Path) -> list[OpenIntent]:
    """Intents without a later `action` record of their run about the same certificate or
    ticket, and without an `intent_resolved` record naming them."""
    return pending_intents(read_records(path)) if path.exists() else []


def pending_intents(stream: Iterable[Mapping[str, Any]]) -> list[OpenIntent]:
    """`unsettled_intents` over records already read."""
    pending: dict[tuple[str, int], OpenIntent] = {}
    for record in stream:
        event, run, data = record["event"], record["run"], record["data"]
        if event == records.INTENT:
            pending[(run, record["seq"])] = OpenIntent(run, record["seq"], data, record["time"])
        elif event == records.ACTION:
            for key in [k for k, intent in pending.items() if k[0] == run]:
                if _answers(data, pending[key].data):
                    del pending[key]
        elif event == records.INTENT_RESOLVED:
            pending.pop((data.get("intent_run"), data.get("intent_seq")), None)
    return sorted(pending.values(), key=lambda intent: (intent.run, intent.seq))


def _answers(outcome: dict[str, Any], intent: dict[str, Any]) -> bool:
    """Whether an action record is the outcome of an intent (same certificate or ticket);
    a write whose outcome is unknown answers nothing: its intent stays open."""
    if outcome.get("outcome_unknown"):
        return False
    certificate = outcome.get("certificate")
    certificate_id = certificate.get("id") if isinstance(certificate, dict) else None
    if intent.get("certificate_id") and intent.get("certificate_id") == certificate_id:
        return True
    return bool(intent.get("ticket")) and intent.get("ticket") == outcome.get("ticket")


@dataclass(frozen=True, slots=True)
class Settlement:
    """What settling found: how many intents were resolved, and the creates left open."""

    settled: int
    held: dict[str, OpenIntent] = field(default_factory=dict)


def settle_intents(
    audit: AuditLog,
    tickets: TicketSystem,
    *,
    now: datetime | None = None,
    index_lag: float = 0.0,
) -> int:
    """Ask the ticket system what became of every unsettled intent and record the answer, so
    no write made before a failed append is missing from the evidence; returns how many."""
    return settle_open_intents(audit, tickets, now=now, index_lag=index_lag).settled


def settle_open_intents(
    audit: AuditLog,
    tickets: TicketSystem,
    *,
    now: datetime | None = None,
    index_lag: float = 0.0,
) -> Settlement:
    """`settle_intents`, keeping open each create that found nothing while younger than the
    search index's lag (`index_lag` seconds): its ticket may exist, unsearchable yet."""
    settled, held = 0, {}
    for intent in unsettled_intents(audit.path):
        found = _what_became_of(intent.data, tickets)
        if not found and _young_create(intent, now, index_lag):
            held[str(intent.data["certificate_id"])] = intent
            continue
        audit.intent_resolved(
            IntentResolved(
                intent_run=intent.run,
                intent_seq=intent.seq,
                intent=intent.data,
                found=found,
                checked=intent.data.get("operation") != "page",
            )
        )
        settled += 1
    return Settlement(settled, held)


def _young_create(intent: OpenIntent, now: datetime | None, index_lag: float) -> bool:
    certificate_id = intent.data.get("certificate_id")
    if intent.data.get("operation") != "create" or not isinstance(certificate_id, str):
        return False
    if now is None or index_lag <= 0:
        return False
    written = _instant(intent.time)
    # An unreadable time is treated as young: holding a create one run too long is the safe side.
    return written is None or now - written < timedelta(seconds=index_lag)


def _instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def recent_creates(path: Path, since: datetime) -> list[str]:
    """Keys of the tickets the audit trail says were created (or found for a create intent)
    at or after `since`, oldest first: a search index may not show them yet."""
    keys: dict[str, None] = {}
    if not path.exists():
        return []
    for record in read_records(path):
        event, data = record["event"], record["data"]
        if event not in (records.ACTION, records.INTENT_RESOLVED):
            continue
        moment = _instant(str(record.get("time", "")))
        if moment is None or moment < since:
            continue
        if event == records.ACTION:
            if data.get("kind") == "create" and data.get("applied") and data.get("ticket"):
                keys[str(data["ticket"])] = None
        elif (data.get("intent") or {}).get("operation") == "create":
            for found in data.get("found") or []:
                if isinstance(found, dict) and found.get("key"):
                    keys[str(found["key"])] = None
    return list(keys)


def _what_became_of(intent: dict[str, Any], tickets: TicketSystem) -> tuple[Ticket, ...]:
    if intent.get("operation") == "page":
        return ()  # an on-call sink cannot be asked what it received
    certificate_id, key = intent.get("certificate_id"), intent.get("ticket")
    if isinstance(certificate_id, str) and certificate_id:
        found = tuple(tickets.find_by_marker(certificate_id))
        return tuple(t for t in found if not key or t.key == key) or found
    return tuple(t for t in tickets.open_tickets() if t.key == key)


def intent_changes(
    stream: Sequence[Mapping[str, Any]], in_window: Callable[[Any], bool]
) -> list[dict[str, Any]]:
    """Report rows for writes whose outcome the log lacks: intents still unsettled, and what
    a later run found for each settled one. A verified report never omits a change."""
    rows = [
        _row(
            time=intent.time,
            run=intent.run,
            intent=intent.data,
            ticket=intent.data.get("ticket"),
            applied=None,
            note=(
                f"intent recorded (record {intent.seq}) before the write; its outcome was "
                "never recorded: the next reconcile asks the ticket system"
            ),
            verified=_verified(stream, intent.run, intent.seq),
        )
        for intent in pending_intents(stream)
        if in_window(intent.time)
    ]
    for record in stream:
        if record["event"] != records.INTENT_RESOLVED or not in_window(record["time"]):
            continue
        data = record["data"]
        intent = data.get("intent") if isinstance(data.get("intent"), dict) else {}
        found = [t for t in data.get("found") or [] if isinstance(t, dict)]
        shown = ", ".join(
            f"{t.get('key')} ({t.get('status')}, due {t.get('due_date')})" for t in found
        )
        rows.append(
            _row(
                time=record["time"],
                run=record["run"],
                intent=intent,
                ticket=(found[0].get("key") if found else intent.get("ticket")),
                applied=bool(found) if data.get("checked") else None,
                note=(
                    f"outcome of run {data.get('intent_run')} record {data.get('intent_seq')} "
                    "was not recorded; the ticket system then showed " + (shown or "no such ticket")
                    if data.get("checked")
                    else "outcome was not recorded and cannot be asked of an on-call sink"
                ),
                verified=bool(record.get("verified", True)),
            )
        )
    return rows


def _verified(stream: Sequence[Mapping[str, Any]], run: str, seq: int) -> bool:
    for record in stream:
        if record["run"] == run and record["seq"] == seq:
            return bool(record.get("verified", True))
    return True


def _row(
    *,
    time: str,
    run: str,
    intent: Mapping[str, Any],
    ticket: Any,
    applied: bool | None,
    note: str,
    verified: bool,
) -> dict[str, Any]:
    return {
        "time": time,
        "run": run,
        "kind": intent.get("operation"),
        "ticket": ticket,
        "certificate": {"id": intent.get("certificate_id"), "names": []},
        "fields": {},
        "reason": note,
        "applied": applied,
        "error": None,
        "note": "from a write-ahead intent",
        "verified": verified,
    }
