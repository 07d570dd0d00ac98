"""`reconcile` against the local Jira as a scheduled job sees it: a failed write is reported with
exit 1, the rest still happen, and the next run converges."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

from support.certs import Issued, write_pem
from support.cli import run_cli
from support.jirafake import FaultRule, JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from support.tlsservers import TLSServer

WILDCARD_ID = hashlib.sha256(b"*.example.com\nexample.com").hexdigest()[:16]


def write_config(tmp_path: Path, fake: JiraFake, server: TLSServer, pki: dict[str, Issued]) -> Path:
    write_pem(tmp_path / "root.pem", pki["root"])
    endpoints = "".join(
        f'[[endpoints]]\nhost = "{host}"\nport = {server.port}\naddresses = ["127.0.0.6"]\n\n'
        for host in ("app.example.com", "api.example.com", "www.example.com")
    )
    config = tmp_path / "ticketbridge.toml"
    config.write_text(
        f'[discovery]\nca_bundle = "root.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        f"{endpoints}"
        '[tickets]\nbackend = "jira"\n\n'
        f'[jira]\nurl = "{fake.url}"\nproject = "OPS"\nemail = "{fake.email}"\nrequests_per_second = 1000\n',
        encoding="utf-8",
    )
    return config


def test_a_failed_write_exits_1_and_the_next_run_converges(
    tmp_path: Path, server: TLSServer, pki: dict[str, Issued]
) -> None:
    www_due = (pki["www"].certificate.not_valid_after_utc - timedelta(days=21)).date()
    required_due = (pki["wildcard"].certificate.not_valid_after_utc - timedelta(days=21)).date()
    with JiraFake(flavour="datacenter") as fake:
        hand_filed = fake.seed_issue("Renew *.example.com", duedate=www_due)
        config = write_config(tmp_path, fake, server, pki)
        env = {"TICKETBRIDGE_JIRA__TOKEN": fake.token}
        # Every edit of the hand-filed ticket fails this run, retries included: HTTP 500.
        fake.faults.add(
            FaultRule(effect=500, method="PUT", path=rf"/issue/{hand_filed.key}$", times=10)
        )

        failed = run_cli("--config", str(config), "reconcile", "--format", "json", env=env)
        assert failed.returncode == 1, failed.stderr
        document = json.loads(failed.stdout)
        errors = [a for a in document["actions"] if a["error"]]
        assert errors and all(a["ticket"] == hand_filed.key for a in errors)
        assert fake.state.issues[hand_filed.key].duedate == www_due  # nothing half-written

        fake.faults.clear()
        healed = run_cli("--config", str(config), "reconcile", "--format", "json", env=env)
        assert healed.returncode == 0, healed.stderr
        issue = fake.state.issues[hand_filed.key]
        assert issue.duedate == required_due
        assert f"tb-{WILDCARD_ID}" in issue.labels
        assert len(fake.state.issues) == 1  # adopted, never duplicated

        writes_before, seen = fake.write_count(), len(fake.requests_log)
        again = run_cli("--config", str(config), "plan", "--detailed-exitcode", env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert fake.write_count() == writes_before
        # Converged, on Data Center too: search pages only (serverInfo to detect the flavour).
        assert {(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests_log[seen:]} <= {
            ("GET", "serverInfo"),
            ("POST", "search"),
        }
