"""The sslyze peer: the Python TLS scanner a user would reach for instead, run on the same names.

sslyze 6 is installed into its own virtual environment under bench/work/ (it pins its own
`cryptography` and ships `nassl`, its own OpenSSL build), never into ticketbridge's. Each target is
`NAME:PORT{ADDRESS}` — sslyze's documented form for "connect to ADDRESS, send NAME as SNI" — and
only `--certinfo` runs (the chain, its expiry and its trust: the same work ticketbridge's scan does).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

SSLYZE_SPEC = "sslyze>=6,<7"


def sslyze_python(work: Path) -> Path:
    """The interpreter of a venv holding sslyze, made on first use (pip from PyPI)."""
    venv = work.parent / "sslyze-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", SSLYZE_SPEC],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return python


def sslyze_argv(
    python: Path, names: Sequence[str], port: int, address: str, ca_file: Path, work: Path
) -> tuple[list[str], Path]:
    targets = work / "sslyze-targets.txt"
    targets.write_text("".join(f"{name}:{port}{{{address}}}\n" for name in names))
    output = work / "sslyze.json"
    output.unlink(missing_ok=True)
    argv = [str(python), "-m", "sslyze", "--quiet", "--mozilla_config", "disable"]
    argv += ["--certinfo", "--certinfo_ca_file", str(ca_file)]
    argv += ["--targets_in", str(targets), "--json_out", str(output)]
    return argv, output


def sslyze_good(output: Path, names: Sequence[str]) -> int:
    """Targets whose certinfo completed with a leaf carrying the target's name (SNI worked)."""
    if not output.exists():
        return 0
    document = json.loads(output.read_text())
    wanted = set(names)
    good = 0
    for result in document.get("server_scan_results", []):
        name = result.get("server_location", {}).get("hostname")
        certinfo = (result.get("scan_result") or {}).get("certificate_info") or {}
        deployments = (certinfo.get("result") or {}).get("certificate_deployments") or []
        if name not in wanted or not deployments:
            continue
        leaf = deployments[0]["received_certificate_chain"][0]
        sans = (leaf.get("subject_alternative_name") or {}).get("dns_names") or []
        good += name in sans
    return good
