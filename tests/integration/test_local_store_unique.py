"""One open ticket per marker is a rule of the embedded store itself (issue 14), whatever the lock.

Two reconciles with different `lock_path`s on one store (two configs, an environment override)
used to file 17-26 duplicates for 40 certificates: each searched, found nothing, and created.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from ticketbridge.core.model import MARKER_LABEL, CertFacts, Endpoint, Observation, marker_label
from ticketbridge.core.ports import NewTicket
from ticketbridge.core.shapes import observations_jsonl
from ticketbridge.tickets.local import LocalTicketStore

CID = "0123456789abcdef"
OTHER = "fedcba9876543210"


def new_ticket(cid: str = CID, due: dt.date = dt.date(2026, 12, 1)) -> NewTicket:
    return NewTicket(
        summary="Renew app.example.com",
        description="Expires soon.",
        due_date=due,
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid, "endpoints": ["app.example.com:443@192.0.2.10"]},
        priority="High",
    )


def test_a_create_racing_another_becomes_an_adoption(tmp_path: Path) -> None:
    first, second = LocalTicketStore(tmp_path / "t.db"), LocalTicketStore(tmp_path / "t.db")
    # Both runs searched before either created: neither saw a ticket.
    assert first.find_by_marker(CID) == [] and second.find_by_marker(CID) == []
    filed = first.create(new_ticket(), "Filed by run A.")
    adopted = second.create(new_ticket(due=dt.date(2026, 11, 28)), "Filed by run B.")
    assert adopted.key == filed.key
    assert [t.key for t in first.all_tickets()] == [filed.key]
    assert adopted.due_date == dt.date(2026, 11, 28)  # the second create's facts, as an edit
    assert [c.body for c in second.comments(filed.key)] == ["Filed by run A.", "Filed by run B."]


def test_a_closed_or_ambiguous_ticket_is_not_adopted(tmp_path: Path) -> None:
    store = LocalTicketStore(tmp_path / "t.db")
    closed = store.create(new_ticket(), "Filed.")
    store.transition(closed.key, "done", "Renewed.")
    both = store.add_manual_ticket(
        "Two certificates", None, labels=(MARKER_LABEL, marker_label(CID), marker_label(OTHER))
    )
    again = store.create(new_ticket(), "Expiring again.")
    assert again.key not in (closed.key, both.key)
    assert len(store.all_tickets()) == 3


def test_two_writers_searching_then_creating_in_step_file_one_ticket_each(tmp_path: Path) -> None:
    """What apply does per certificate (search the marker, create if none), by two store
    objects at once: in step, each search misses the other's create."""
    ids = [f"{n:016x}" for n in range(40)]
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        store = LocalTicketStore(tmp_path / "t.db")
        start.wait()
        for cid in ids:
            if not [t for t in store.find_by_marker(cid) if t.is_open]:
                store.create(new_ticket(cid), f"Filed by {name}.")

    threads = [threading.Thread(target=writer, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    per_marker = Counter(
        cid for t in LocalTicketStore(tmp_path / "t.db").all_tickets() for cid in t.marker_ids
    )
    assert sorted(per_marker) == ids
    assert set(per_marker.values()) == {1}


def expiring(index: int, now: dt.datetime) -> Observation:
    host = f"h{index}.example.com"
    not_after = now + dt.timedelta(days=5)
    leaf = CertFacts(
        fingerprint_sha256=hashlib.sha256(host.encode()).hexdigest(),
        serial=f"{index + 1:02x}",
        subject=f"CN={host}",
        issuer="CN=Test CA",
        names=(host,),
        not_before=not_after - dt.timedelta(days=90),
        not_after=not_after,
        common_name=host,
    )
    return Observation(
        endpoint=Endpoint(host=host, port=443, address="192.0.2.10", sni=host),
        observed_at=now,
        status="ok",
        certificate=leaf,
        chain=(leaf,),
        effective_not_after=not_after,
    )


def test_two_reconciles_with_different_lock_files_on_one_store_file_no_duplicate(
    tmp_path: Path,
) -> None:
    now = dt.datetime.now(dt.UTC)
    observations = tmp_path / "observations.jsonl"
    observations.write_text("".join(observations_jsonl([expiring(i, now) for i in range(40)])))
    store = tmp_path / "tickets.db"
    runs = []
    for name in ("a", "b"):
        config = tmp_path / f"{name}.toml"
        config.write_text(
            f'[tickets]\nlocal_path = "{store}"\nlock_path = "{tmp_path / name}.lock"\n'
            f'[audit]\nlog_path = "{tmp_path / name}-audit.jsonl"\n[policy]\nmax_changes = 100\n'
        )
        command = [sys.executable, "-m", "ticketbridge", "--config", str(config), "reconcile"]
        runs.append(
            subprocess.Popen(
                [*command, "--observations", str(observations)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out + err
    tickets = LocalTicketStore(store).all_tickets()
    per_marker = Counter(cid for t in tickets if t.is_open for cid in t.marker_ids)
    assert len(per_marker) == 40
    assert max(per_marker.values()) == 1
