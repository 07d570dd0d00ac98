#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine, then run it all:
# lint, types, architecture contracts, and pytest. .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh --test

echo "== ruff"; .venv/bin/ruff check --output-format concise .
.venv/bin/ruff format --check .
echo "== mypy --strict"; .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/pytest -q -p no:cacheprovider "$@"
