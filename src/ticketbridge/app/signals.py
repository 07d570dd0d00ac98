"""SIGTERM as an exception in the main thread, so a stopped run unwinds like Ctrl-C.

Python's default for SIGTERM is to die on the spot: no `finally`, no audit record closing the
run, probe workers left running. With this handler the signal raises `errors.Terminated` (a
KeyboardInterrupt), context managers close what they opened, and the command line prints one
line and exits 143.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from ticketbridge.errors import Terminated

__all__ = ["install_sigterm_handler"]


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Ignore a second SIGTERM while the first one unwinds: cleanup must not be cut short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def install_sigterm_handler() -> None:
    """Route SIGTERM to `Terminated`; only the main thread may install signal handlers."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
