"""deploy/systemd and deploy/cron: checked with systemd-analyze, and run commands the CLI accepts."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import run_cli

DEPLOY = Path(__file__).parents[2] / "deploy"
INSTALLED = "/usr/local/bin/ticketbridge"


def test_systemd_analyze_verifies_the_service_and_timer(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not available on this machine")
    # The unit names the installed path; here the project's own entry point stands in for it,
    # because verify checks that ExecStart's program exists and is executable.
    here = Path(sys.executable).with_name("ticketbridge")
    service = (DEPLOY / "systemd" / "ticketbridge.service").read_text(encoding="utf-8")
    assert INSTALLED in service
    (tmp_path / "ticketbridge.service").write_text(service.replace(INSTALLED, str(here)))
    shutil.copy(DEPLOY / "systemd" / "ticketbridge.timer", tmp_path)
    result = subprocess.run(
        [analyze, "verify", "ticketbridge.service", "ticketbridge.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )
    # Unknown keys are only warned about: any output at all is a defect.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def _ticketbridge_args(command_line: str) -> list[str]:
    words = shlex.split(command_line)
    return words[words.index(INSTALLED) + 1 :]


def _accepted(arguments: list[str]) -> None:
    """The CLI parses these arguments: `--help` after them stops before any run."""
    with_value = ("--log-format", "--config")  # the global options that take a value
    position = 0
    while arguments[position].startswith("-"):
        option = arguments[position]
        assert option.split("=", 1)[0] in with_value and option in run_cli("--help").stdout
        position += 1 if "=" in option else 2
    command, options = arguments[position], arguments[position + 1 :]
    usage = run_cli(command, "--help").stdout
    assert usage, command
    for option in (o for o in options if o.startswith("--")):
        name = option.split("=", 1)[0]
        assert name in usage, f"{command} has no {name}"


def test_the_service_runs_a_command_the_cli_accepts() -> None:
    service = (DEPLOY / "systemd" / "ticketbridge.service").read_text(encoding="utf-8")
    (line,) = re.findall(r"^ExecStart=(.*)$", service, re.MULTILINE)
    _accepted(_ticketbridge_args(line))
    assert re.search(r"^SuccessExitStatus=5$", service, re.MULTILINE)  # lock held is no failure


def test_the_crontab_line_is_a_valid_cron_d_entry() -> None:
    lines = [
        line
        for line in (DEPLOY / "cron" / "ticketbridge.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    (line,) = lines
    minute, hour, day, month, weekday, user, command = line.split(maxsplit=6)
    assert minute.isdigit() and 0 <= int(minute) <= 59
    assert (hour, day, month, weekday) == ("*", "*", "*", "*")
    assert user == "ticketbridge"
    _accepted(_ticketbridge_args(command.split("&&", 1)[1].split(">>")[0]))
