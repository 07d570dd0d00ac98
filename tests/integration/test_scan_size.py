"""Whether a configuration may need forked probing workers, from its raw TOML."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ticketbridge.app.scan_size import FEW_ENDPOINT_TABLES, may_need_workers


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ticketbridge.toml"
    path.write_text(text)
    return path


def _endpoints(count: int) -> str:
    return "".join(f'[[endpoints]]\nhost = "h{i}.example"\n\n' for i in range(count))


def test_a_few_endpoints_and_files_need_no_workers(tmp_path: Path) -> None:
    text = '[[files]]\npath = "a.pem"\n\n' + _endpoints(FEW_ENDPOINT_TABLES - 1)
    assert may_need_workers(_config(tmp_path, text), {}) is False


def test_many_endpoints_need_workers(tmp_path: Path) -> None:
    assert may_need_workers(_config(tmp_path, _endpoints(FEW_ENDPOINT_TABLES)), {}) is True


@pytest.mark.parametrize(
    "text",
    [
        '[[sources.zone]]\npath = "db.example"\n',  # a zone may hold any number of names
        "[discovery]\nworkers = 4\n",  # asked for explicitly
        "[discovery]\nworkers = 2 # two\n",
        "[discovery]\n  workers=8\n",
        "discovery.workers = 3\n",
        "[ sources . zone ]\npath = 'db.example'\n",  # TOML allows the spaces
        "sources.zone = [{path = 'db.example'}]\n",
        'endpoints = [{host = "a.example"}]\n',  # an inline array: not counted, so fork
        "[[ endpoints ]]\nhost = 'a'\n" * FEW_ENDPOINT_TABLES,
    ],
)
def test_anything_that_may_add_endpoints_or_cannot_be_read_forks(tmp_path: Path, text: str) -> None:
    assert may_need_workers(_config(tmp_path, text), {}) is True


@pytest.mark.parametrize("workers", ["0", "1", "1  # one"])
def test_one_or_automatic_workers_alone_do_not_fork(tmp_path: Path, workers: str) -> None:
    path = _config(tmp_path, f"[discovery]\nworkers = {workers}\n")
    assert may_need_workers(path, {}) is False


@pytest.mark.parametrize(
    "variable",
    ["TICKETBRIDGE_ENDPOINTS", "ticketbridge_sources__zone", "TICKETBRIDGE_DISCOVERY__WORKERS"],
)
def test_environment_that_may_add_endpoints_forks(tmp_path: Path, variable: str) -> None:
    assert may_need_workers(_config(tmp_path, ""), {variable: "x"}) is True


def test_a_file_of_certificates_and_a_few_endpoints_reads_as_few(tmp_path: Path) -> None:
    text = (
        '[discovery]\nconcurrency = 64\nca_bundle = "root.pem"\n\n'
        '[[files]]\npath = "sources.pem"\n\n'  # "sources" inside a value is not a table
        + _endpoints(3)
        + "[policy]\nlead_days = 21\n"
    )
    assert may_need_workers(_config(tmp_path, text), {}) is False


def test_no_file_or_a_missing_one_forks(tmp_path: Path) -> None:
    assert may_need_workers(None, {}) is True
    assert may_need_workers(tmp_path / "missing.toml", {}) is True


@pytest.mark.timeout(10)
def test_a_fifo_is_not_waited_on(tmp_path: Path) -> None:
    """The glance never blocks on a FIFO with no writer (the real load refuses it clearly)."""
    fifo = tmp_path / "ticketbridge.toml"
    os.mkfifo(fifo)
    assert may_need_workers(fifo, {}) is True
