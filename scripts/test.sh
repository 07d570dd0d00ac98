#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine, then run it all:
# lint, types, architecture contracts, mutation testing of the changed core, and pytest.
# .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh --test

echo "== ruff"; .venv/bin/ruff check --output-format concise .
.venv/bin/ruff format --check .
echo "== mypy --strict"; .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports
# ---------------------------------------------------------------------------------------------
# Mutation testing of the pure core (issue 11): only the core modules changed since the commit
# that last recorded tests/mutation/scores.json, so a change that leaves the core alone costs
# nothing. Fails when a module kills fewer than 95% of its non-equivalent mutants. Every core
# module at once (a shallow clone, or a change to the mutation tooling) took 11 min with one
# worker on a loaded 2-core machine; the timeout keeps CI well under its 90 min.
echo "== mutation testing (changed core modules)"
timeout 45m scripts/mutation.sh --changed

# Last, so that pytest's summary closes the output.
echo "== pytest"; .venv/bin/pytest -q -p no:cacheprovider "$@"
