#!/usr/bin/env bash
# Install ticketbridge into ./.venv on Debian/Ubuntu (Python >= 3.11), adding the Debian packages it
# needs first. With --test: also the test extras and the tools the test suite starts for real.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=false
[ "${1:-}" = "--test" ] && with_tests=true

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'

need_apt=()
"$PYTHON" -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
if $with_tests; then
  # PostgreSQL (the postgres STARTTLS path, against a real server), openssl, iproute2.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
  command -v openssl >/dev/null || need_apt+=(openssl)
  command -v ip >/dev/null || need_apt+=(iproute2)
  # Headless Chromium renders the HTML report in the browser test (tests/e2e/test_report_browser.py).
  command -v chromium >/dev/null || need_apt+=(chromium)
  # nginx: HSTS read from a real web server's `add_header Strict-Transport-Security`.
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need_apt+=(nginx-light)
  # named-checkzone: BIND's own judgement of the sample zones the zone source is tested on.
  command -v named-checkzone >/dev/null || need_apt+=(bind9-utils)
  # promtool checks and unit-tests deploy/prometheus/'s alerting rules.
  command -v promtool >/dev/null || need_apt+=(prometheus)
  # node and npm: the Gateway API schema validator the Kubernetes-source tests run
  # (tests/support/gateway_schema/, pinned by its package-lock.json; Debian 12's node 18 runs it).
  command -v node >/dev/null || need_apt+=(nodejs)
  command -v npm >/dev/null || need_apt+=(npm)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if $with_tests; then
  .venv/bin/python -m pip install -q -e '.[test]'
  # The Gateway API schema validator's node_modules, unless installed from this very lockfile.
  # Without the npm registry the Gateway API schema tests skip (saying so); nothing else needs it.
  gw=tests/support/gateway_schema
  if ! cmp -s "$gw/package-lock.json" "$gw/node_modules/.installed-from-lock.json"; then
    if (cd "$gw" && npm ci --no-audit --no-fund --loglevel=error); then
      cp "$gw/package-lock.json" "$gw/node_modules/.installed-from-lock.json"
    else
      echo "warning: npm ci in $gw failed (no npm registry?): the Gateway API schema tests will skip"
    fi
  fi
else
  .venv/bin/python -m pip install -q .
fi
