"""`scan --shard K/N` in N processes, merged by `plan --observations DIR`: the single scan's plan."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from support.certs import Issued, write_pem
from support.cli import run_cli
from support.tlsservers import TLSServer
from ticketbridge.tickets.local import LocalTicketStore

from .conftest import NOW

CLOSED_PORT = 9  # discard: nothing listens on loopback, so these probes are refused


def _shard(label: str, count: int) -> int:
    # SPEC "Shards", written out here rather than imported: the test is the formula's second opinion.
    return int(hashlib.sha256(label.encode()).hexdigest()[:8], 16) % count


def _fleet(port: int) -> list[tuple[str, str]]:
    """(config entry, shard label): explicit-address endpoints, IP literals, refused ones."""
    entries = []
    for i in range(10):
        host = f"n{i}.example.com"
        entry = f'[[endpoints]]\nhost = "{host}"\nport = {port}\naddresses = ["127.0.0.6"]\n'
        entries.append((entry, f"{host}:{port}@127.0.0.6"))
    for sni in ("www.example.com", "app.example.com"):
        entry = f'[[endpoints]]\nhost = "127.0.0.6"\nport = {port}\nsni = "{sni}"\n'
        entries.append((entry, f"127.0.0.6:{port}"))
    for i in range(3):
        host = f"down{i}.example.com"
        entry = f'[[endpoints]]\nhost = "{host}"\nport = {CLOSED_PORT}\naddresses = ["127.0.0.6"]\n'
        entries.append((entry, f"{host}:{CLOSED_PORT}@127.0.0.6"))
    entries.append(
        (
            f'[[endpoints]]\nhost = "www.example.com"\nport = {port}\naddresses = ["127.0.0.6"]\n',
            f"www.example.com:{port}@127.0.0.6",
        )
    )
    return entries


@pytest.fixture
def workdir(tmp_path: Path, server: TLSServer, pki: dict[str, Issued]) -> Path:
    write_pem(tmp_path / "root.pem", pki["root"])
    endpoints = "\n".join(entry for entry, _ in _fleet(server.port))
    (tmp_path / "ticketbridge.toml").write_text(
        '[discovery]\nca_bundle = "root.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        '[tickets]\nlocal_path = "tickets.db"\n\n[audit]\nlog_path = "audit.jsonl"\n\n'
        f"{endpoints}",
        encoding="utf-8",
    )
    # The incident's ticket: the wildcard's renewal, due on www's date (adopted and corrected).
    www_due = (pki["www"].certificate.not_valid_after_utc - timedelta(days=21)).date()
    LocalTicketStore(tmp_path / "tickets.db").add_manual_ticket(
        "Renew *.example.com", www_due, created=NOW - timedelta(days=40)
    )
    return tmp_path


def _cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--config", str(workdir / "ticketbridge.toml"), *args, cwd=workdir)


def _scan_shards(workdir: Path, count: int, out: Path, failing: int | None = None) -> list[int]:
    """N scanner processes at once, as an Indexed Job runs them; their exit codes."""
    out.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBRIDGE_")}
    processes = []
    for k in range(count):
        # The failing shard writes where it cannot: it exits non-zero and leaves no file.
        target = out / "missing-dir" / "x.jsonl" if k == failing else out / f"shard-{k}.jsonl"
        command = [sys.executable, "-m", "ticketbridge", "--config", "ticketbridge.toml"]
        command += ["scan", "--shard", f"{k}/{count}", "--format", "jsonl", "--output", str(target)]
        processes.append(
            subprocess.Popen(
                command,
                cwd=workdir,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    codes = []
    for process in processes:
        process.communicate(timeout=120)
        codes.append(process.returncode)
    return codes


def _plan(workdir: Path, observations: Path) -> tuple[list[str], str]:
    result = _cli(workdir, "plan", "--format", "json", "--observations", str(observations))
    assert result.returncode == 0, result.stderr
    actions = json.loads(result.stdout)["actions"]
    # What a plan decides: kinds, tickets, certificates, fields, and which endpoints went
    # unobserved (not the wording of why: a refused probe and a lost shard say different things).
    canonical = sorted(
        json.dumps(
            [
                a["kind"],
                a["ticket"],
                a["certificate"]["id"],
                a.get("fields", {}),
                sorted(u["endpoint"] for u in a.get("unobserved", [])),
            ],
            sort_keys=True,
        )
        for a in actions
    )
    return canonical, result.stderr


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_sharded_scans_merge_to_the_single_scan_plan(workdir: Path, server: TLSServer) -> None:
    single = workdir / "single.jsonl"
    assert _cli(workdir, "scan", "--format", "jsonl", "--output", str(single)).returncode == 0
    expected, _ = _plan(workdir, single)
    kinds = {json.loads(action)[0] for action in expected}
    assert {"update", "escalate"} <= kinds  # a plan worth comparing
    fleet = _fleet(server.port)
    for count in (2, 3, 5):
        out = workdir / f"shards-{count}"
        assert _scan_shards(workdir, count, out) == [0] * count
        for k in range(count):
            lines = _lines(out / f"shard-{k}.jsonl")
            assert {line["scanner"]["shard"] for line in lines} <= {f"{k}/{count}"}
        labels = sorted(
            line["endpoint"]["host"] + ":" + str(line["endpoint"]["port"])
            for k in range(count)
            for line in _lines(out / f"shard-{k}.jsonl")
        )
        assert len(labels) == len(fleet)  # every endpoint scanned exactly once
        plan, err = _plan(workdir, out)
        assert plan == expected, f"{count} shards"
        assert "delivered no observations" not in err


def test_a_failed_shard_is_named_and_its_endpoints_are_unobserved(
    workdir: Path, server: TLSServer
) -> None:
    count = 3
    # A shard that owns endpoints fails (the port is random, so is which shard owns what).
    failing = _shard(_fleet(server.port)[0][1], count)
    out = workdir / "shards"
    codes = _scan_shards(workdir, count, out, failing=failing)
    assert codes[failing] != 0 and [c for k, c in enumerate(codes) if k != failing] == [0, 0]
    plan, err = _plan(workdir, out)
    assert f"shard(s) {failing}/3 delivered no observations" in err
    # The single scan in which that shard's endpoints could not be probed plans the same.
    single = workdir / "single.jsonl"
    assert _cli(workdir, "scan", "--format", "jsonl", "--output", str(single)).returncode == 0
    lost = {label for _, label in _fleet(server.port) if _shard(label, count) == failing}
    assert lost, "the failing shard must hold endpoints for this test to mean anything"
    degraded = workdir / "degraded.jsonl"
    with degraded.open("w") as handle:
        for line in _lines(single):
            endpoint = line["endpoint"]
            explicit = f"{endpoint['host']}:{endpoint['port']}@{endpoint['address']}"
            bare = f"{endpoint['host']}:{endpoint['port']}"
            if explicit in lost or bare in lost:
                line.update(status="error", certificate=None, chain=[], verification=None)
                line.update(effective_not_after=None)
                line["error"] = {"kind": "refused", "message": "not probed"}
            handle.write(json.dumps(line) + "\n")
    expected, _ = _plan(workdir, degraded)
    assert plan == expected


def test_old_observations_never_resolve_or_postpone(workdir: Path) -> None:
    single = workdir / "single.jsonl"
    assert _cli(workdir, "scan", "--format", "jsonl", "--output", str(single)).returncode == 0
    fresh, _ = _plan(workdir, single)
    aged = workdir / "aged" / "old.jsonl"
    aged.parent.mkdir()
    old = (NOW - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    aged.write_text(
        "".join(json.dumps({**line, "observed_at": old}) + "\n" for line in _lines(single))
    )
    plan, _ = _plan(workdir, workdir / "aged" / "*.jsonl")
    # Nothing observed: the incident ticket's due date is not moved; no write is planned.
    assert [json.loads(action)[0] for action in plan] == ["unobserved"] * len(plan)
    assert fresh != plan


def test_a_bad_shard_is_a_usage_error(workdir: Path) -> None:
    result = _cli(workdir, "scan", "--shard", "3/3")
    assert result.returncode == 2
    assert result.stderr.strip() == "ticketbridge: error: --shard '3/3': need 0 <= K < N"


ZONE_NAMES = [f"z{i}.example.com" for i in range(12)]


@pytest.fixture
def zone_workdir(tmp_path: Path, server: TLSServer, pki: dict[str, Issued]) -> Path:
    """No [[endpoints]] at all: every name comes from a zone file (issue 17's sources)."""
    write_pem(tmp_path / "root.pem", pki["root"])
    records = "".join(f"{name.split('.')[0]} IN A 127.0.0.6\n" for name in ZONE_NAMES)
    (tmp_path / "db.example.com").write_text(
        "$ORIGIN example.com.\n$TTL 300\n"
        "@ IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300\n"
        f"{records}",
        encoding="utf-8",
    )
    (tmp_path / "ticketbridge.toml").write_text(
        '[discovery]\nca_bundle = "root.pem"\nconnect_timeout = 1.0\nhandshake_timeout = 2.0\n\n'
        '[tickets]\nlocal_path = "tickets.db"\n\n[audit]\nlog_path = "audit.jsonl"\n\n'
        f'[[sources.zone]]\nfile = "db.example.com"\nports = [{server.port}]\n',
        encoding="utf-8",
    )
    return tmp_path


def test_endpoints_from_a_source_are_sharded_too(zone_workdir: Path, server: TLSServer) -> None:
    single = zone_workdir / "single.jsonl"
    assert _cli(zone_workdir, "scan", "--format", "jsonl", "--output", str(single)).returncode == 0
    assert len(_lines(single)) == len(ZONE_NAMES)
    expected, _ = _plan(zone_workdir, single)
    count = 3
    out = zone_workdir / "shards"
    assert _scan_shards(zone_workdir, count, out) == [0] * count
    per_shard = [_lines(out / f"shard-{k}.jsonl") for k in range(count)]
    scanned = sorted(line["endpoint"]["host"] for lines in per_shard for line in lines)
    assert scanned == sorted(ZONE_NAMES)  # each zone name probed once, by the shard SPEC names
    for k, lines in enumerate(per_shard):
        for line in lines:
            label = f"{line['endpoint']['host']}:{server.port}@127.0.0.6"
            assert _shard(label, count) == k
            assert line["endpoint"]["source"] == "zone:db.example.com"
    plan, err = _plan(zone_workdir, out)
    assert plan == expected and "delivered no observations" not in err


def test_a_lost_shard_of_a_source_names_its_endpoints_unobserved(
    zone_workdir: Path, server: TLSServer
) -> None:
    count = 3
    # The shard that fails must own zone names (the port is random, and so is the hashing).
    failing = _shard(f"{ZONE_NAMES[0]}:{server.port}@127.0.0.6", count)
    lost = {n for n in ZONE_NAMES if _shard(f"{n}:{server.port}@127.0.0.6", count) == failing}
    out = zone_workdir / "shards"
    codes = _scan_shards(zone_workdir, count, out, failing=failing)
    assert codes[failing] != 0
    plan, err = _plan(zone_workdir, out)
    assert f"shard(s) {failing}/{count} delivered no observations" in err
    # The same plan as a single scan in which the lost shard's zone names were not probed.
    single = zone_workdir / "single.jsonl"
    assert _cli(zone_workdir, "scan", "--format", "jsonl", "--output", str(single)).returncode == 0
    degraded = zone_workdir / "degraded.jsonl"
    with degraded.open("w") as handle:
        for line in _lines(single):
            if line["endpoint"]["host"] in lost:
                line.update(status="error", certificate=None, chain=[], verification=None)
                line.update(effective_not_after=None)
                line["error"] = {"kind": "refused", "message": "not probed"}
            handle.write(json.dumps(line) + "\n")
    expected, _ = _plan(zone_workdir, degraded)
    assert plan == expected
    created = [json.loads(action) for action in plan if json.loads(action)[0] == "create"]
    assert created  # the wildcard served by the delivered names gets its ticket


def test_a_shard_the_config_gives_nothing_is_not_missing(tmp_path: Path, server: TLSServer) -> None:
    """One endpoint and three shards: two shards have nothing to scan and write empty files;
    the merge must not call them lost (it did, whenever the random port hashed that way)."""
    label = f"www.example.com:{server.port}@127.0.0.6"
    (tmp_path / "ticketbridge.toml").write_text(
        '[tickets]\nlocal_path = "tickets.db"\n\n'
        f'[[endpoints]]\nhost = "www.example.com"\nport = {server.port}\naddresses = ["127.0.0.6"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "shards"
    assert _scan_shards(tmp_path, 3, out) == [0, 0, 0]
    owner = _shard(label, 3)
    assert [len(_lines(out / f"shard-{k}.jsonl")) for k in range(3)] == [
        1 if k == owner else 0 for k in range(3)
    ]
    result = _cli(tmp_path, "plan", "--format", "json", "--observations", str(out))
    assert result.returncode == 0, result.stderr
    assert "delivered no observations" not in result.stderr
