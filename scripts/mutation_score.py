"""Scores mutmut's results per core module, honouring the checked-in list of equivalent mutants.

A mutant is identified in tests/mutation/equivalent.toml by its function and the line it changes
(as `mutmut show` prints them), not by mutmut's running number, which shifts whenever the code
above it changes. Killed, timed-out and segfaulting mutants count as killed; survivors, "no tests"
and suspicious ones count against the score; equivalent and skipped mutants are left out.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "mutation" / "equivalent.toml"
SCORES = ROOT / "tests" / "mutation" / "scores.json"
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
LEFT_OUT = {"skipped"}
_RESULT = re.compile(r"^\s*(?P<name>\S+): (?P<status>.+)$")
_NUMBER = re.compile(r"__mutmut_\d+$")
used: dict[int, int] = {}  # equivalent.toml entry -> how many survivors it matched


@dataclass(frozen=True, slots=True)
class Score:
    module: str
    total: int
    killed: int
    equivalent: int
    survivors: tuple[str, ...]

    @property
    def counted(self) -> int:
        return self.total - self.equivalent

    @property
    def percent(self) -> float:
        return 100.0 if self.counted == 0 else 100.0 * self.killed / self.counted

    def as_dict(self) -> dict[str, object]:
        return {
            "mutants": self.total,
            "killed": self.killed,
            "equivalent": self.equivalent,
            "score": round(self.percent, 1),
        }


def _mutmut(*args: str) -> str:
    return subprocess.run(
        [str(MUTMUT), *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def results(module: str) -> dict[str, str]:
    prefix = f"ticketbridge.core.{module}."
    found: dict[str, str] = {}
    for line in _mutmut("results", "--all", "true").splitlines():
        match = _RESULT.match(line)
        if match and match["name"].startswith(prefix):
            found[match["name"]] = match["status"].strip()
    return found


def changed_lines(name: str) -> tuple[str, str]:
    """The line a mutant removes and the one it adds, stripped, from `mutmut show`."""
    removed, added = [], []
    for line in _mutmut("show", name).splitlines():
        if line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:].strip())
        elif line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:].strip())
    return "\n".join(removed), "\n".join(added)


def equivalents() -> list[dict[str, str]]:
    entries = tomllib.loads(EQUIVALENT.read_text("utf-8")).get("equivalent", [])
    for entry in entries:
        missing = {"function", "removed", "added", "reason"} - set(entry)
        if missing or not entry["reason"].strip():
            sys.exit(f"{EQUIVALENT}: every entry needs function, removed, added and a reason")
    return list(entries)


def score(module: str, listed: list[dict[str, str]]) -> Score:
    statuses = results(module)
    if not statuses:
        sys.exit(f"no mutmut results for ticketbridge.core.{module}: run mutmut first")
    unchecked = sorted(n for n, s in statuses.items() if s == "not checked")
    if unchecked:
        sys.exit(f"{module}: {len(unchecked)} mutants were not checked (e.g. {unchecked[0]})")
    killed = sum(1 for s in statuses.values() if s in KILLED)
    equivalent, survivors = 0, []
    for name, status in sorted(statuses.items()):
        if status in KILLED:
            continue
        if status in LEFT_OUT:
            equivalent += 1
            continue
        function = _NUMBER.sub("", name)
        removed, added = changed_lines(name)
        matching = [
            index
            for index, e in enumerate(listed)
            if e["function"] == function and e["removed"] == removed and e["added"] == added
        ]
        if matching:
            equivalent += 1
            for index in matching:
                used[index] = used.get(index, 0) + 1
        else:
            survivors.append(f"{name} ({status}): {removed!r} -> {added!r}")
    return Score(module, len(statuses), killed, equivalent, tuple(survivors))


def check_entries(listed: list[dict[str, str]], modules: list[str]) -> bool:
    """An entry must name exactly one surviving mutant: two would let a new one hide behind it."""
    ok = True
    for index, entry in enumerate(listed):
        if entry["function"].split(".")[2] not in modules:
            continue
        count = used.get(index, 0)
        if count > 1:
            print(
                f"equivalent.toml: {entry['function']} {entry['added']!r} matches {count} mutants"
            )
            ok = False
        elif count == 0:
            print(
                f"equivalent.toml: stale entry, no surviving mutant is {entry['function']} "
                f"{entry['added']!r}"
            )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("modules", nargs="+")
    parser.add_argument("--threshold", type=float, default=95.0)
    parser.add_argument("--record", action="store_true", help=f"write the scores to {SCORES}")
    args = parser.parse_args()
    listed = equivalents()
    scores = [score(module, listed) for module in args.modules]
    failed = not check_entries(listed, args.modules)
    for result in scores:
        verdict = "ok" if result.percent >= args.threshold else "BELOW THRESHOLD"
        print(
            f"{result.module}: {result.killed}/{result.counted} non-equivalent mutants killed "
            f"({result.percent:.1f}%; {result.equivalent} equivalent of {result.total}) {verdict}"
        )
        for survivor in result.survivors:
            print(f"  survived: {survivor}")
        failed |= result.percent < args.threshold
    if args.record:
        recorded = json.loads(SCORES.read_text("utf-8")) if SCORES.exists() else {}
        recorded.update({result.module: result.as_dict() for result in scores})
        # Every record changes the file, even with the same scores: `mutation.sh --changed`
        # takes the last commit that touched it as the point the scores describe.
        recorded["recorded_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
        SCORES.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", "utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
