"""Errors to exit codes, in one place: a known error is one line on stderr, anything else a hint."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import typer

from ticketbridge.cli.output import stderr
from ticketbridge.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_ERROR,
    EXIT_TERMINATED,
    RunDeadlineExceeded,
    Terminated,
    TicketbridgeError,
)
from ticketbridge.infra.scrub import one_line, scrub

log = logging.getLogger("ticketbridge")


# Our own messages (a config error naming file and key) fit easily; a server's page does not.
ERROR_LINE_LIMIT = 1000


def fail(code: int, message: str) -> NoReturn:
    # The last guard for what reaches the terminal: no secret, one line, no escapes, bounded.
    line = one_line(scrub(message), ERROR_LINE_LIMIT)
    stderr().print(f"ticketbridge: error: {line}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def errors_mapped(*, debug: bool) -> Iterator[None]:
    """Known errors become one line and an exit code; anything else gets a hint (certbot style)."""
    try:
        yield
    except typer.Exit:
        raise
    except TicketbridgeError as exc:
        if debug:
            log.exception("%s", type(exc).__name__)
        fail(exc.exit_code, f"{exc.prefix}{exc}")
    except RunDeadlineExceeded as exc:
        fail(exc.exit_code, str(exc))
    except Terminated:
        fail(EXIT_TERMINATED, "terminated (SIGTERM)")
    except KeyboardInterrupt:
        fail(EXIT_INTERRUPTED, "interrupted")
    except BrokenPipeError:
        # The reader (`| head`) went away: stop quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115 - replaces the closed stdout
        raise typer.Exit(EXIT_OK) from None
    except Exception as exc:
        if debug:
            raise
        log.debug("unexpected error", exc_info=True)
        fail(
            EXIT_RUN_ERROR,
            f"{type(exc).__name__}: {exc} (run with --debug for the traceback)",
        )
