"""Running the real command line in a subprocess, as a user or a scheduler would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m ticketbridge ARGS` with a clean TICKETBRIDGE_ environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBRIDGE_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ticketbridge", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
