"""The HTML report of real runs, opened in headless Chromium as an auditor opens it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from support.certs import Issued, make_leaf
from support.tlsservers import Served, TLSServer

from .conftest import NOW
from .test_reconcile_cli import cli, hand_file_the_incident_ticket, workdir  # noqa: F401

# Screenshots and PDF prints land here (gitignored), for a person to look at after a run.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
# The flags the brief asks for: nothing fetched on Chromium's own behalf, a fresh profile.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
SECTIONS = {
    "control",
    "policy",
    "operation",
    "timeline",
    "inventory",
    "changes",
    "failures",
    "never-observed",
    "hsts",
}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/install.sh --test installs it")
        pytest.skip("chromium is not installed (scripts/install.sh --test installs it)")
    return found


class Listener:
    """A local HTTP server that records every request: the page must make none."""

    def __init__(self, address: str) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener("127.0.0.42") as running:
        yield running


def hostile_names(listener: Listener) -> tuple[str, ...]:
    """A certificate's names are whatever its server chose: markup that would run, or fetch."""
    return (
        '<script>document.title="PWNED"</script>.example.com',
        f'<img src="{listener.url}/img">.example.com',
    )


@pytest.fixture
def hostile_server(pki: dict[str, Issued], listener: Listener) -> Iterator[TLSServer]:
    leaf = make_leaf(
        pki["intermediate"],
        names=hostile_names(listener),
        not_before=NOW - timedelta(days=60),
        # Within the ticket horizon, and its due date still ahead: a ticket is created, no more.
        not_after=NOW + timedelta(days=40),
        key_slot="browser-hostile",
    )
    with TLSServer(Served([leaf, pki["intermediate"]]), address="127.0.0.41") as running:
        yield running


def closed_port(address: str) -> int:
    """A port nothing listens on: connecting is refused, so the endpoint is never observed."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


class Dom(HTMLParser):
    """The rendered DOM as Chromium dumped it: elements by tag and class, and the page's text."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_title = tag == "title" and not self.title

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.title += data

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.elements
            if name == tag and (cls is None or cls in attrs.get("class", "").split())
        ]


CONSOLE = ("--enable-logging=stderr", "--v=0")


def csp_violations(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Content Security Policy" in line]


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_report_of_a_real_run_renders_in_chromium_as_an_auditor_reads_it(
    workdir: Path,  # noqa: F811 - the fixture imported above
    pki: dict[str, Issued],
    hostile_server: TLSServer,
    listener: Listener,
    tmp_path: Path,
) -> None:
    binary = chromium()
    refused = closed_port("127.0.0.43")
    with (workdir / "ticketbridge.toml").open("a", encoding="utf-8") as config:
        config.write(
            f'\n[[endpoints]]\nhost = "shop.example.com"\nport = {hostile_server.port}\n'
            'addresses = ["127.0.0.41"]\n'
            f'\n[[endpoints]]\nhost = "gone.example.com"\nport = {refused}\n'
            'addresses = ["127.0.0.43"]\n'
        )
    hand_file_the_incident_ticket(workdir, pki)
    for _ in range(2):  # the correcting run, then one with nothing left to do
        code, _, err = cli(workdir, "reconcile")
        assert code == 0, err
    page = workdir / "report.html"
    code, _, err = cli(workdir, "report", "--output", str(page))
    assert code == 0, err
    code, out, err = cli(workdir, "report", "--format", "json")
    assert code == 0, err
    expected = json.loads(out)

    profile = tmp_path / "chromium-profile"
    # With console logging on, anything the page tried that its CSP blocked is reported.
    dumped = run_chromium(binary, profile, *CONSOLE, "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr
    assert csp_violations(dumped.stderr) == []
    dom = Dom(dumped.stdout)

    headings = {attrs.get("id") for attrs in dom.find("h2")}
    assert headings >= SECTIONS, SECTIONS - headings
    certificates = dom.find("tr", "cert")
    assert len(certificates) == len(expected["certificates"]) == 3
    statuses = sorted(attrs["data-status"] for attrs in certificates)
    assert statuses == ["compliant", "created", "escalated"]
    assert len(dom.find("tr", "change")) == len(expected["changes"]) > 0
    assert len(dom.find("tr", "never")) == len(expected["never_observed"]) == 1
    # The pictures are drawn: one timeline row per certificate, a bar for the day's runs.
    assert len(dom.find("g", "cert-row")) == 3
    assert dom.find("svg") and dom.find("rect", "run-bar")
    # Hostile names are shown as text, and nothing in them ran or fetched.
    text = "".join(dom.text)
    for name in hostile_names(listener):
        assert name.lower() in text  # names are reported in their canonical, lower-case form
    assert dom.find("script") == [] and dom.find("img") == []
    assert "pwned" not in dom.title.lower() and dom.title.startswith("ticketbridge audit report")
    assert f"gone.example.com:{refused}@127.0.0.43" in text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot, printed = ARTIFACTS / "report.png", ARTIFACTS / "report.pdf"
    for output in (screenshot, printed):
        output.unlink(missing_ok=True)
    shot = run_chromium(
        binary, profile, "--window-size=1200,2600", f"--screenshot={screenshot}", page.as_uri()
    )
    assert shot.returncode == 0, shot.stderr
    pdf = run_chromium(
        binary, profile, "--no-pdf-header-footer", f"--print-to-pdf={printed}", page.as_uri()
    )
    assert pdf.returncode == 0, pdf.stderr
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert printed.read_bytes()[:5] == b"%PDF-" and printed.stat().st_size > 10_000
    assert listener.requests == []


def test_the_console_check_sees_what_the_reports_csp_blocks(tmp_path: Path) -> None:
    """The check above could not pass by seeing nothing: a page with the report's CSP that
    tries a script and an image gets both blocked, and the console says so."""
    binary = chromium()
    canary = tmp_path / "canary.html"
    canary.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\"></head><body>"
        '<img src="http://127.0.0.42:9/x.png"><script>document.title="ran"</script>'
        "</body></html>",
        encoding="utf-8",
    )

    dumped = run_chromium(binary, tmp_path / "profile", *CONSOLE, "--dump-dom", canary.as_uri())

    assert dumped.returncode == 0, dumped.stderr
    blocked = csp_violations(dumped.stderr)
    assert any("image" in line for line in blocked) and any("script" in line for line in blocked)
    assert "ran" not in Dom(dumped.stdout).title
