"""The tamper-evident audit trail (hash-chained JSONL) and the compliance report built from it."""

from ticketbridge.audit.log import (
    GENESIS,
    AuditLog,
    Verification,
    read_records,
    verify_log,
)

__all__ = [
    "GENESIS",
    "AuditLog",
    "Verification",
    "read_records",
    "verify_log",
]
