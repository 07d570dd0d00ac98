"""`reconcile` against a Jira having a bad day (issue 10): a confusing answer, a redirect, an echoed
token or a password in the URL ends the run with one line, writes nothing and leaks nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from support.cli import run_cli
from support.hostile import Answer, Hostile, jira_json
from ticketbridge.core.model import CertFacts, Endpoint, Observation
from ticketbridge.core.shapes import observations_jsonl

TOKEN = "Tok3n-Sekr1t-ABCdef"  # mixed case: an echo in lower or upper case must be caught too
NOW = dt.datetime.now(dt.UTC)


def expiring(host: str) -> Observation:
    not_after = NOW + dt.timedelta(days=5)
    names = (host,)
    leaf = CertFacts(
        fingerprint_sha256=hashlib.sha256(host.encode()).hexdigest(),
        serial="01",
        subject=f"CN={host}",
        issuer="CN=Test CA",
        names=names,
        not_before=not_after - dt.timedelta(days=90),
        not_after=not_after,
        common_name=host,
    )
    return Observation(
        endpoint=Endpoint(host=host, port=443, address="192.0.2.10", sni=host),
        observed_at=NOW,
        status="ok",
        certificate=leaf,
        chain=(leaf,),
        effective_not_after=not_after,
    )


TOKEN_ENV = {"TICKETBRIDGE_JIRA__TOKEN": TOKEN}


def reconcile(tmp_path: Path, url: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    observations = tmp_path / "observations.jsonl"
    observations.write_text("".join(observations_jsonl([expiring("app.example.com")])))
    config = tmp_path / "ticketbridge.toml"
    config.write_text(
        '[tickets]\nbackend = "jira"\n'
        f'[jira]\nurl = "{url}"\nproject = "OPS"\ndeployment = "datacenter"\n'
        "requests_per_second = 1000\ntimeout = 3\n"
        f'[audit]\nlog_path = "{tmp_path / "audit.jsonl"}"\n'
    )
    return run_cli(
        *extra,
        "--config",
        str(config),
        "reconcile",
        "--observations",
        str(observations),
        env=TOKEN_ENV | (env or {}),
        cwd=tmp_path,
    )


def serve(search: Answer) -> Any:
    def script(method: str, path: str, body: bytes) -> Answer:
        if path.endswith("/serverInfo"):
            return jira_json({"deploymentType": "Server", "version": "9.12.15"})
        if "/search" in path:
            return search
        # Anything else would be a write (a create): answer as Jira would, so it could proceed.
        return jira_json({"id": "10001", "key": "OPS-1", "self": "x"}, 201)

    return script


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


CONFUSING = {
    "an empty object": jira_json({}),
    "an empty body": Answer(200, b""),
    "a total without issues": jira_json({"total": 0}),
    "issues fewer than the total": jira_json({"issues": [], "total": 5, "startAt": 0}),
    "a page that is not JSON": Answer(200, b"<html>Log in</html>", {"Content-Type": "text/html"}),
    "issues as a string": jira_json({"issues": "OPS-1", "total": 1}),
    "an issue without fields": jira_json({"issues": [{"id": "1", "key": "OPS-1"}], "total": 1}),
    "null": jira_json(None),
}


@pytest.mark.parametrize("answer", list(CONFUSING.values()), ids=list(CONFUSING))
def test_a_confusing_search_answer_is_an_error_and_nothing_is_written(
    tmp_path: Path, answer: Answer
) -> None:
    with Hostile(serve(answer)) as peer:
        result = reconcile(tmp_path, peer.url)
        writes = peer.writes()
    assert result.returncode == 1, result.stdout + result.stderr
    assert writes == []
    assert "search" in one_line(result.stderr)


def test_a_redirect_is_refused_with_one_line_and_not_followed(tmp_path: Path) -> None:
    with Hostile(
        serve(Answer(302, b"", {"Location": "http://127.0.0.2:9/rest/api/2/search"}))
    ) as peer:
        result = reconcile(tmp_path, peer.url)
        seen = [(s.method, s.path) for s in peer.seen]
    assert result.returncode == 1
    assert "redirect" in one_line(result.stderr)
    assert seen == [("POST", "/rest/api/2/search")]


def test_a_token_echoed_back_in_any_case_is_never_printed(tmp_path: Path) -> None:
    def script(method: str, path: str, body: bytes) -> Answer:
        if path.endswith("/serverInfo"):
            return jira_json({"deploymentType": "Server", "version": "9.12.15"})
        echo = f"bad request from Bearer {TOKEN} / bearer {TOKEN.lower()} / {TOKEN.upper()}"
        return jira_json({"errorMessages": [echo]}, 400)

    with Hostile(script) as peer:
        plain = reconcile(tmp_path, peer.url)
        debug = reconcile(tmp_path, peer.url, "--debug")
    for result in (plain, debug):
        assert result.returncode == 1
        printed = (result.stdout + result.stderr).lower()
        assert TOKEN.lower() not in printed
    assert "[redacted]" in one_line(plain.stderr)
    assert TOKEN.lower() not in (tmp_path / "audit.jsonl").read_text().lower()


@pytest.mark.parametrize("where", ["file", "environment"])
def test_a_password_in_the_jira_url_is_refused_at_load_and_never_printed(
    tmp_path: Path, where: str
) -> None:
    """Issue 14: userinfo in jira.url is a configuration error (one line naming the key, exit
    2), before any request, in `reconcile` and `doctor` (text and JSON) alike."""
    with Hostile(serve(jira_json({"errorMessages": ["no"]}, 400))) as peer:
        url = peer.url.replace("http://", "http://bot:pa55word-XYZ@")
        env = {"TICKETBRIDGE_JIRA__URL": url} if where == "environment" else {}
        result = reconcile(tmp_path, peer.url if env else url, env=env)
        config = str(tmp_path / "ticketbridge.toml")
        doctors = [
            run_cli("--config", config, "doctor", *fmt, cwd=tmp_path, env=env | TOKEN_ENV)
            for fmt in ((), ("--format", "json"))
        ]
        sent = list(peer.seen)
    assert sent == []
    for outcome in (result, *doctors):
        printed = outcome.stdout + outcome.stderr
        assert "pa55word" not in printed
        assert outcome.returncode == 2, printed
        assert "jira.url" in printed and "user name or password" in printed
    assert "jira.url" in one_line(result.stderr)
    assert (
        not (tmp_path / "audit.jsonl").exists()
        or "pa55word" not in (tmp_path / "audit.jsonl").read_text()
    )


def test_an_error_page_is_cut_to_one_short_inert_line(tmp_path: Path) -> None:
    page = ("<html>\x1b[31mBad Gateway\x1b[0m\n" + "x" * 1_300_000 + "</html>").encode()
    with Hostile(serve(Answer(400, page, {"Content-Type": "text/html"}))) as peer:
        result = reconcile(tmp_path, peer.url)
    line = one_line(result.stderr)
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and len(result.stderr) < 600
    assert json.dumps(line)  # printable as it is
