"""Gateway API objects held against the Gateway API's own schema, by the node validator in
tests/support/gateway_schema/ (validate.mjs over the pinned @kubernetes-models/gateway-api).

kubernetes-validate carries the core kinds only; Gateway, HTTPRoute and the other
gateway.networking.k8s.io kinds are CRDs, whose schemas that package ships. One node process
checks every object of a call. Without node or the package installed the calling test is skipped
with the install step to run, never passed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCHEMA_DIR = Path(__file__).resolve().parent / "gateway_schema"
INSTALL_STEP = (
    "scripts/install.sh --test (apt nodejs npm, then `npm ci` in tests/support/gateway_schema)"
)
# The validator's exit codes (validate.mjs says the same).
VALID, INVALID, UNKNOWN_KIND, CANNOT_LOAD = 0, 1, 2, 3


@dataclass(frozen=True)
class GatewayVerdict:
    """The validator's exit code and its report: one line per error, `<Kind> <ns>/<name>: <path> <message>`."""

    returncode: int
    lines: tuple[str, ...]

    @property
    def report(self) -> str:
        return "\n".join(self.lines)


def _node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip(f"Gateway API schema check needs node: run {INSTALL_STEP}")
    if not (SCHEMA_DIR / "node_modules" / "@kubernetes-models" / "gateway-api").is_dir():
        pytest.skip(f"Gateway API schema package not installed: run {INSTALL_STEP}")
    return node


def check_gateway_objects(objects: Sequence[dict[str, Any]]) -> GatewayVerdict:
    """Every object through the validator in one node process; its verdict, valid or not."""
    node = _node_or_skip()
    done = subprocess.run(
        [node, str(SCHEMA_DIR / "validate.mjs")],
        input=json.dumps(list(objects)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode not in (VALID, INVALID, UNKNOWN_KIND):
        # The package would not load (too old a node?): a broken tool fails loudly, never skips.
        pytest.fail(
            f"the Gateway API validator broke ({done.returncode}): {done.stdout}{done.stderr}"
        )
    return GatewayVerdict(done.returncode, tuple(done.stdout.splitlines()))


def validate_gateway_objects(objects: Sequence[dict[str, Any]]) -> None:
    """Fail the test unless every object is a valid Gateway API object of a kind the schema knows."""
    verdict = check_gateway_objects(objects)
    assert verdict.returncode == VALID and not verdict.lines, verdict.report
