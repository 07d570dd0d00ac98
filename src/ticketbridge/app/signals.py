"""SIGTERM and the run deadline as exceptions in the main thread: a stopped run unwinds like Ctrl-C.

Python's default for SIGTERM is to die on the spot: no `finally`, no audit record closing the
run, probe workers left running. With this handler the signal raises `errors.Terminated` (a
KeyboardInterrupt), context managers close what they opened, and the command line prints one
line and exits 143.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ticketbridge.errors import RunDeadlineExceeded, Terminated

__all__ = ["install_sigterm_handler", "run_deadline"]


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Ignore a second SIGTERM while the first one unwinds: cleanup must not be cut short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def install_sigterm_handler() -> None:
    """Route SIGTERM to `Terminated`; only the main thread may install signal handlers."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


@contextmanager
def run_deadline(seconds: float) -> Iterator[None]:
    """Raise `RunDeadlineExceeded` in the main thread once `seconds` of wall-clock time have
    passed (0: no deadline). Per-request timeouts bound each peer; this bounds their sum, so a
    scheduled job never overlaps the next one however many peers are slow."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        raise RunDeadlineExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
