#!/usr/bin/env bash
# Reproduce every ticketbridge benchmark: fixtures, nginx, peers, WAN and memory runs, teardown.
# Usage: sudo bash bench/run.sh [bench/run.py options]   (needs: apt-get install -y nginx ssl-cert-check)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

missing=()
for tool in nginx openssl ssl-cert-check unshare setpriv; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench: missing ${missing[*]}; run: apt-get install -y nginx ssl-cert-check" >&2
  exit 2
fi
if [[ ! -x .venv/bin/ticketbridge ]]; then
  echo "bench: .venv/bin/ticketbridge missing; run: python3 -m venv .venv && .venv/bin/pip install -e ." >&2
  exit 2
fi

# 20,000 endpoints at 256 in flight plus nginx and the proxy: raise the descriptor limit if we may.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

exec .venv/bin/python bench/run.py "$@"
