"""Benchmark: load a 50,000-owner-name BIND zone as `[[sources.zone]]` does; prints wall time and
the process's peak resident memory before and after reading it into endpoints.

Run: .venv/bin/python bench/bench_zone.py [--owners N]   (target: a few seconds, memory bounded)
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from ticketbridge.sources.zone import read_zone


def write_zone(path: Path, owners: int) -> None:
    """A zone as a large fleet keeps it: mostly A records, some AAAA, CNAMEs and SRV."""
    lines = [
        "$TTL 3600",
        "$ORIGIN bench.example.",
        "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300",
        "  IN NS ns1",
        "ns1 IN A 10.255.255.1",
    ]
    for n in range(owners):
        host = f"host{n}"
        if n % 10 == 9:
            lines.append(f"{host} IN CNAME host{n - 1}")
            continue
        lines.append(f"{host} IN A 10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}")
        if n % 7 == 0:
            lines.append(f"{host} IN AAAA 2001:db8::{n >> 16:x}:{n & 0xFFFF:x}")
        if n % 1000 == 0:
            lines.append(f"_https._tcp.{host} IN SRV 0 0 8443 {host}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--owners", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "db.bench.example"
        write_zone(path, args.owners)
        size = path.stat().st_size
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        result = read_zone(path, origin="", ports=[443], label="zone:db.bench.example")
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"zone of {args.owners:,} owner names ({size / 1e6:.1f} MB): "
        f"{len(result.targets):,} endpoints in {elapsed:.2f} s, "
        f"peak RSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after"
    )


if __name__ == "__main__":
    main()
