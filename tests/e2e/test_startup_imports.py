"""Start-up imports only what a command uses: `--version` loads no typer, a scan of one file
loads no reader of a source kind it does not configure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.certs import make_leaf, write_pem
from support.cli import run_cli


def _imported(
    *args: str, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime -m ticketbridge ARGS`; the modules it imported, by name."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ticketbridge", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done, modules


def test_version_prints_what_typer_prints_without_importing_it() -> None:
    done, modules = _imported("--version")
    through_typer = run_cli("--debug", "--version")  # not the bare form: typer answers it
    assert done.returncode == 0 and through_typer.returncode == 0
    assert done.stdout == through_typer.stdout
    assert done.stdout.startswith("ticketbridge ")
    assert "typer" not in modules and "pydantic" not in modules
    assert "ticketbridge.cli.commands" not in modules


def test_scan_of_one_file_loads_no_unconfigured_source_reader(tmp_path: Path) -> None:
    write_pem(tmp_path / "leaf.pem", make_leaf(names=["one.example"]))
    (tmp_path / "ticketbridge.toml").write_text('[[files]]\npath = "leaf.pem"\n')
    done, modules = _imported("scan", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "one.example" in done.stdout
    assert "ticketbridge.discovery.files" in modules  # the reader it does use
    unused = {"dns", "yaml", "ticketbridge.sources.zone", "ticketbridge.sources.kubernetes"}
    assert not unused & modules


def test_scan_of_one_file_neither_forks_workers_nor_loads_the_probe(tmp_path: Path) -> None:
    """A run that cannot probe enough endpoints to use a second core starts without the TLS
    engine, the workers' multiprocessing, or a fork (app/scan_size.py)."""
    write_pem(tmp_path / "leaf.pem", make_leaf(names=["one.example"]))
    (tmp_path / "ticketbridge.toml").write_text(
        '[[files]]\npath = "leaf.pem"\n\n'
        '[[endpoints]]\nhost = "127.0.0.1"\nport = 9\n'  # one endpoint: refused, no workers
    )
    done, modules = _imported("scan", "--format", "json", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "one.example" in done.stdout
    assert "ticketbridge.discovery.tls" in modules  # it does probe its one endpoint
    assert "ticketbridge.discovery.workers" not in modules
    assert "multiprocessing" not in modules

    (tmp_path / "ticketbridge.toml").write_text('[[files]]\npath = "leaf.pem"\n')
    done, modules = _imported("scan", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    probing = {"ticketbridge.discovery.tls", "ticketbridge.discovery.tlsengine", "OpenSSL"}
    assert not probing & modules


# The command line ends without the interpreter's teardown (cli/entry.py): what a normal exit
# guarantees must still hold.
_WITH_AN_ATEXIT_HANDLER = """
import atexit, sys
atexit.register(lambda: print("atexit ran", file=sys.stderr, flush=True))
sys.argv = ["ticketbridge", *sys.argv[1:]]
from ticketbridge.cli.entry import main
main()
print("not reached", file=sys.stderr)
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITH_AN_ATEXIT_HANDLER, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_the_fast_exit_keeps_exit_codes_output_and_atexit_handlers(tmp_path: Path) -> None:
    names = [f"n{i}.example" for i in range(300)]  # a JSON document larger than any buffer
    write_pem(tmp_path / "leaf.pem", make_leaf(names=names))
    (tmp_path / "ticketbridge.toml").write_text('[[files]]\npath = "leaf.pem"\n')

    ok = _run("scan", "--format", "json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    document = json.loads(ok.stdout)  # complete: flushed before the process ended
    assert document["observations"][0]["certificate"]["names"] == names
    assert "atexit ran" in ok.stderr and "not reached" not in ok.stderr

    bad = _run("--config", "missing.toml", "scan", cwd=tmp_path)
    assert bad.returncode == 2
    assert "missing.toml" in bad.stderr and "atexit ran" in bad.stderr

    usage = _run("scan", "--no-such-option", cwd=tmp_path)
    assert usage.returncode == 2 and "atexit ran" in usage.stderr
