"""The open-file budget of a scan: RLIMIT_NOFILE, raised where allowed, caps the connections in flight.

A probe holds one socket. `concurrency = 5000` under `ulimit -n 256` used to make thousands of
`socket()` calls fail with EMFILE, each reported as the endpoint refusing the connection: a
limit of this machine blamed on the peers. Now the soft limit is raised toward the hard limit
(what `ulimit -n` allows without privileges, getrlimit(2)), concurrency is capped to what then
fits, and an EMFILE/ENFILE that still happens is a `LocalLimitError`, never an observation.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

from ticketbridge.errors import LocalLimitError

__all__ = ["LOCAL_LIMIT_ERRNOS", "RESERVED_FDS", "connection_budget", "local_limit_error"]

log = logging.getLogger(__name__)

# Descriptors kept free for everything else a run opens while probing: the audit log, the lock,
# the ticket store, DNS sockets, the event loop's own, pipes to worker processes.
RESERVED_FDS = 32
# EMFILE: this process is at RLIMIT_NOFILE; ENFILE: the whole system is at fs.file-max.
LOCAL_LIMIT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})


def _open_descriptors() -> int:
    try:
        # Linux; the count includes the listing's own descriptor, which is fine as a margin.
        return sum(1 for _ in Path("/proc/self/fd").iterdir())
    except OSError:
        return RESERVED_FDS  # elsewhere: assume the start-up handful


def connection_budget(requested: int) -> int:
    """How many connections this process may hold at once, at most `requested`."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return requested
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = _open_descriptors()
    wanted = in_use + requested + RESERVED_FDS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass  # keep the soft limit we have; the cap below makes do with it
    if soft == resource.RLIM_INFINITY:
        return requested
    budget = max(1, min(requested, soft - in_use - RESERVED_FDS))
    if budget < requested:
        log.warning(
            "discovery.concurrency %d capped to %d: the open-file limit is %d (ulimit -n)",
            requested,
            budget,
            soft,
        )
    return budget


def local_limit_error(exc: OSError) -> LocalLimitError:
    soft = "unknown"
    try:
        import resource

        soft = str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ImportError, OSError):  # pragma: no cover - not POSIX
        pass
    return LocalLimitError(
        f"this machine ran out of file descriptors while probing ({exc.strerror or exc}; "
        f"open-file limit {soft}): lower discovery.concurrency or raise `ulimit -n`"
    )
