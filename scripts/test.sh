#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine, then run it all:
# lint, types, architecture contracts, and pytest. .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian tools the tests start for real: PostgreSQL (the postgres STARTTLS path), openssl,
# iproute2 (network namespaces), and the CA store for the verification verdict.
need_apt=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v ip >/dev/null || need_apt+=(iproute2)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "== ruff"; .venv/bin/ruff check --output-format concise .
.venv/bin/ruff format --check .
echo "== mypy --strict"; .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/pytest -q -p no:cacheprovider "$@"
