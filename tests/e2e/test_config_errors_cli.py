"""Configuration mistakes as a user makes them, end to end: one line naming where the problem
is, exit 2, and never a hang, a typer box or a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.cli import run_cli

VALID = '[[endpoints]]\nhost = "a.example.com"\naddresses = ["127.0.0.1"]\n'


def _one_line_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ticketbridge: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_fifo_config_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    # run_cli's timeout turns a hang into a failure (it was a hang forever).
    _one_line_exit_2(run_cli("--config", str(fifo), "plan", timeout=20), "not a regular file")


def test_dev_zero_is_refused_without_reading_forever() -> None:
    _one_line_exit_2(run_cli("--config", "/dev/zero", "plan", timeout=20), "not a regular file")


def test_a_directory_is_one_line_not_a_usage_box(tmp_path: Path) -> None:
    _one_line_exit_2(run_cli("--config", str(tmp_path), "plan"), "is a directory")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv to drop root")
def test_an_unreadable_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "ticketbridge.toml"
    config.write_text(VALID, encoding="utf-8")
    config.chmod(0o000)
    if os.geteuid() == 0:
        # root reads any file: run the CLI as nobody to see what a normal user sees.
        tmp_path.chmod(0o755)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBRIDGE_")}
        result = subprocess.run(
            [*prefix, *_python_m(), "--config", str(config), "plan"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    else:
        result = run_cli("--config", str(config), "plan")
    _one_line_exit_2(result, "permission denied", str(config))


def _python_m() -> list[str]:
    import sys

    return [sys.executable, "-m", "ticketbridge"]


def test_deeply_nested_toml_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "deep.toml"
    config.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    _one_line_exit_2(run_cli("--config", str(config), "plan"), "deep.toml", "nested too deeply")


def test_an_env_table_that_is_not_json_names_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "ticketbridge.toml"
    config.write_text(VALID, encoding="utf-8")
    result = run_cli("--config", str(config), "plan", env={"TICKETBRIDGE_DISCOVERY": "notjson"})
    _one_line_exit_2(result, "environment variable TICKETBRIDGE_DISCOVERY", "JSON")


def test_a_bad_env_value_names_the_variable_not_the_file(tmp_path: Path) -> None:
    config = tmp_path / "ticketbridge.toml"
    config.write_text(VALID, encoding="utf-8")
    result = run_cli(
        "--config",
        str(config),
        "plan",
        env={"TICKETBRIDGE_DISCOVERY__CONCURRENCY": "abc"},
    )
    _one_line_exit_2(
        result, "environment variable TICKETBRIDGE_DISCOVERY__CONCURRENCY: discovery.concurrency"
    )
    assert str(config) not in result.stderr


def test_an_unknown_env_variable_is_an_error_like_an_unknown_key(tmp_path: Path) -> None:
    config = tmp_path / "ticketbridge.toml"
    config.write_text(VALID, encoding="utf-8")
    result = run_cli("--config", str(config), "plan", env={"TICKETBRIDGE_POLICIES__LEAD_DAYS": "3"})
    _one_line_exit_2(result, "TICKETBRIDGE_POLICIES__LEAD_DAYS", "unknown key")
