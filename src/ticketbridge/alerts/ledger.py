"""Which sink already delivered which page: a page delivered is never sent to that sink again.

The ticket's page label says "every sink took it"; this ledger covers the runs in between:
one sink down while another delivered, or the label's edit failing after the page went out.
Slack does not deduplicate, so without it such a run would post the same page twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ticketbridge.core.plan import PageEvent
from ticketbridge.core.timefmt import iso_z
from ticketbridge.infra.clock import utcnow

log = logging.getLogger(__name__)

# Entries older than this are dropped: a page this old was long since resolved or re-planned.
KEEP_FOR = timedelta(days=400)


def _key(sink: str, event: PageEvent) -> str:
    # The ticket is part of the key: a new ticket for the same certificate is a new page.
    return f"{sink}|{event.dedup_key}|{event.ticket or ''}"


class DeliveryLedger:
    """The last event each sink accepted per (certificate, ticket), kept in a JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, str]] = self._read()

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            document: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Unreadable: paging again is the safe side (a repeat beats a missed page).
            log.warning("%s: page ledger unreadable (%s); pages may repeat", self.path, exc)
            return {}
        delivered = document.get("delivered") if isinstance(document, dict) else None
        if not isinstance(delivered, dict):
            return {}
        return {
            key: value
            for key, value in delivered.items()
            if isinstance(value, dict) and isinstance(value.get("event"), str)
        }

    def delivered(self, sink: str, event: PageEvent) -> bool:
        """This sink already accepted this very event (a trigger after a resolve is new)."""
        entry = self.entries.get(_key(sink, event))
        return entry is not None and entry.get("event") == event.event

    def record(self, sink: str, event: PageEvent, now: datetime | None = None) -> None:
        at = now or utcnow()
        self.entries[_key(sink, event)] = {"event": event.event, "at": iso_z(at)}
        cutoff = iso_z(at - KEEP_FOR)
        self.entries = {k: v for k, v in self.entries.items() if v.get("at", cutoff) >= cutoff}
        self._write()

    def _write(self) -> None:
        payload = json.dumps({"version": 1, "delivered": self.entries}, indent=1, sort_keys=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("w", encoding="utf-8") as file:
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.path)
        except OSError as exc:
            # The page itself went out; only the memory of it is lost, so the run goes on.
            log.warning("%s: cannot record a delivered page (%s); it may repeat", self.path, exc)
            with contextlib.suppress(OSError):
                temporary.unlink()
