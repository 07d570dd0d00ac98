"""Benchmark driver: ticketbridge scan vs an openssl loop and ssl-cert-check, a WAN run, a memory run.

One invocation sets everything up under bench/work/ (gitignored), runs every scenario, tears it all
down again (nginx and the latency proxy stopped even on failure or Ctrl-C) and prints a markdown
table that it also writes to bench/results/latest.md. See bench/README.md for what each number
means. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures  # a sibling script, not a package
import sslyze_peer

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TICKETBRIDGE = REPO / ".venv" / "bin" / "ticketbridge"
PYTHON = REPO / ".venv" / "bin" / "python"

NGINX_ADDRESS = "127.0.0.2"
NGINX_PORT = 8443
PROXY_ADDRESS = "127.0.0.3"
PROXY_PORTS = (9443, 9444)
MEMORY_ADDRESSES = tuple(f"127.0.1.{n}" for n in range(1, 21))  # 20 "hosts" x 1,000 names
NGINX_USER = "www-data"
HOSTS_MARK = "# ticketbridge-bench"

OPENSSL_TARGET = 35  # issue 18: start-up included
SSLYZE_TARGET = 25
STARTUP_TARGET = 0.15  # seconds
CPU_PER_HANDSHAKE_TARGET_MS = 0.8  # the client, at 20,000 endpoints

OPENSSL_LOOP = """set -euo pipefail
while read -r name; do
  openssl s_client -connect "$1" -servername "$name" </dev/null 2>/dev/null \\
    | openssl x509 -noout -enddate
done < "$2"
"""


class BenchError(RuntimeError):
    """Setup failed; the message says what to fix."""


@dataclass
class Run:
    """One timed process run."""

    seconds: float
    returncode: int
    max_rss_kib: int
    cpu_seconds: float  # user + system of the process and of every child it waited for
    server_cpu_seconds: float | None  # the nginx worker, over the same interval
    stderr_tail: str = ""
    tree: TreeMemory | None = None  # the process and its descendants, sampled


@dataclass
class TreeMemory:
    """Peak memory of a process tree, sampled every `interval` seconds from /proc.

    ticketbridge forks probe workers for large scans, so the peak RSS of one process (wait4's
    ru_maxrss, /usr/bin/time's "Maximum resident set size") is not the scan's footprint. Summing
    RSS over the tree counts pages the forked workers share copy-on-write with the parent once per
    process; summing PSS charges each shared page to its sharers in proportion, which adds up to
    what the tree really occupies.
    """

    interval: float = 0.02
    peak_rss_kib: int = 0
    peak_pss_kib: int = 0
    peak_processes: int = 0
    samples: int = 0
    # The largest process's own high-water mark (VmHWM). Not wait4's ru_maxrss: Linux carries a
    # forked child's high-water mark across exec, so a child of this (large) driver would report
    # the driver's size. VmHWM belongs to the image the child exec'd, and being a high-water
    # mark, sampling cannot miss its peak.
    peak_hwm_kib: int = 0

    def sample(self, root: int) -> None:
        pids = _tree(root)
        rss = pss = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_hwm_kib = max(self.peak_hwm_kib, int(line.split()[1]))
        self.samples += 1
        self.peak_rss_kib = max(self.peak_rss_kib, rss)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)
        self.peak_processes = max(self.peak_processes, len(pids))

    def watch(self, root: int, done: threading.Event) -> None:
        while not done.wait(self.interval):
            self.sample(root)


def _tree(root: int) -> list[int]:
    pids, index = [root], 0
    while index < len(pids):
        pid = pids[index]
        index += 1
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids += [int(child) for child in (task / "children").read_text().split()]
    return pids


@dataclass
class Row:
    scenario: str
    peer: str
    handshakes: int
    run: Run | None
    ratio: str = ""
    target: str = ""
    result: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.handshakes / self.run.seconds if self.run else None


def _seconds_for(count: int, rate: float | None) -> str:
    """How long `count` handshakes take at `rate` per second, for the notes under the table."""
    return f"{count / rate:.0f} s" if rate else "(no rate measured)"


# --------------------------------------------------------------------------- processes

SERVER_PIDS: list[int] = []  # the nginx workers, whose CPU time every run reports


def _cpu_of(pids: Sequence[int]) -> float:
    """User + system CPU seconds of running processes, from /proc/PID/stat."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBRIDGE_")}
    env["LC_ALL"] = "C"
    # An installed wheel runs from byte-code compiled at install time; with this set, the
    # editable install's every run recompiles ~55 modules (85 ms in the start-up profile).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    stdout: Path,
    stderr: Path,
    watch_memory: bool = False,
) -> Run:
    """Run argv to completion: wall time, and peak RSS and CPU of that very process (wait4)."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        server_before = _cpu_of(SERVER_PIDS)
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=_clean_env(),
            process_group=0,  # its own group, so an interrupted run can stop all of it
        )
        tree, done = TreeMemory(), threading.Event()
        watcher = threading.Thread(target=tree.watch, args=(process.pid, done), daemon=True)
        if watch_memory:
            watcher.start()
        try:
            # The tree is sampled until the process exits (it stays a zombie until reaped).
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        except BaseException:  # Ctrl-C or SIGTERM: take the measured process tree down with us
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - started
        done.set()
        if watch_memory:
            watcher.join()
        _, status, usage = os.wait4(process.pid, 0)
        server_cpu = _cpu_of(SERVER_PIDS) - server_before if SERVER_PIDS else None
    process.returncode = os.waitstatus_to_exitcode(status)
    tail = stderr.read_text(errors="replace").strip().splitlines()[-5:]
    return Run(
        seconds=seconds,
        returncode=process.returncode,
        max_rss_kib=usage.ru_maxrss,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        server_cpu_seconds=server_cpu,
        stderr_tail="\n".join(tail),
        tree=tree if watch_memory else None,
    )


def _stop(process: subprocess.Popen[bytes] | None, signum: int = signal.SIGTERM) -> float:
    """Stop a helper we started and reap it; its CPU seconds (0.0 if it had already gone)."""
    if process is None or process.returncode is not None:
        return 0.0
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        except ChildProcessError:  # reaped already (Popen.poll from another caller)
            return 0.0
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        time.sleep(0.02)
    process.kill()
    process.wait()
    return 0.0


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


# --------------------------------------------------------------------------- setup


def _as_user(user: str) -> list[str]:
    """A prefix that drops root to `user` (nginx runs unprivileged); nothing if we are not root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", "--"]


def _chown_tree(root: Path, user: str) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for path in [root, *root.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def nginx(fixture: fixtures.Fixture, work: Path) -> Iterator[str]:
    """A foreground nginx of our own (prefix, pid, logs under work/nginx), as an unprivileged user."""
    runtime = work / "nginx"
    runtime.mkdir()
    listen = [(NGINX_ADDRESS, NGINX_PORT)] + [(a, NGINX_PORT) for a in MEMORY_ADDRESSES]
    for address, port in listen:
        # Another server there would answer every probe instead of ours: wrong numbers.
        with socket.socket() as taken, contextlib.suppress(OSError):
            taken.settimeout(0.5)
            if taken.connect_ex((address, port)) == 0:
                raise BenchError(f"{address}:{port} already has a server: stop it first")
    conf = runtime / "nginx.conf"
    conf.write_text(fixtures.nginx_conf(fixture, runtime, listen))
    _chown_tree(work, NGINX_USER)
    log = runtime / "error.log"
    argv = [*_as_user(NGINX_USER), "nginx", "-p", str(runtime), "-e", str(log), "-c", str(conf)]
    check = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, check=False)
    if check.returncode:
        raise BenchError(f"nginx -t failed: {check.stderr.strip()}")
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(NGINX_ADDRESS, NGINX_PORT, process, log)
        # The kernel completes a connect once the master listens; its worker may come later, and
        # the nginx CPU columns are that worker's.
        deadline = time.monotonic() + 5
        while not SERVER_PIDS and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
                SERVER_PIDS[:] = [int(pid) for pid in children.split()]
            if not SERVER_PIDS:
                time.sleep(0.02)
        version = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
        yield version.stderr.strip().removeprefix("nginx version: ")
    finally:
        SERVER_PIDS.clear()
        _stop(process, signal.SIGQUIT)


def _wait_for_port(address: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"nginx exited with {process.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listens on {address}:{port} after 10 s")


@dataclass
class ProxyResult:
    stats: dict[str, float | int] = field(default_factory=dict)
    cpu_seconds: float = 0.0


@contextlib.contextmanager
def latency_proxy(work: Path, delay: float) -> Iterator[ProxyResult]:
    """bench/latency_proxy.py on PROXY_ADDRESS:PROXY_PORTS; its statistics once it has stopped."""
    stats_path = work / f"proxy-{delay * 1000:.0f}ms.json"
    stderr_path = work / f"proxy-{delay * 1000:.0f}ms.stderr"
    argv = [str(PYTHON), str(BENCH / "latency_proxy.py"), "--delay", str(delay)]
    argv += ["--upstream", f"{NGINX_ADDRESS}:{NGINX_PORT}", "--stats", str(stats_path)]
    for port in PROXY_PORTS:
        argv += ["--listen", f"{PROXY_ADDRESS}:{port}"]
    result = ProxyResult()
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
        )
    try:
        assert process.stdout is not None
        if not process.stdout.readline().startswith(b"ready"):
            raise BenchError(f"latency proxy did not start: {stderr_path.read_text()}")
        yield result
    finally:
        result.cpu_seconds = _stop(process)
        if process.stdout is not None:
            process.stdout.close()
        with contextlib.suppress(OSError, ValueError):
            result.stats = json.loads(stats_path.read_text())


@contextlib.contextmanager
def names_resolve_locally(names: Sequence[str], work: Path) -> Iterator[tuple[list[str], str]]:
    """Make the benchmark names resolve to nginx for one command, without touching the system.

    Preferred: a private mount namespace (`unshare --mount`) in which a copy of /etc/hosts with the
    names appended is bind-mounted over /etc/hosts; it vanishes with the process, and nothing
    else on the machine ever sees it. Fallback (no CAP_SYS_ADMIN): a marked block appended to
    /etc/hosts and removed again in a `finally`, so it is gone even if the benchmark fails.
    Yields the argv prefix to run the command with, and how the names were made to resolve.
    """
    block = "".join(f"{NGINX_ADDRESS} {name} {HOSTS_MARK}\n" for name in names)
    hosts = Path("/etc/hosts")
    private = work / "hosts"
    private.write_text(hosts.read_text().rstrip("\n") + "\n" + block)
    private.chmod(0o644)
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    prefix = ["unshare", "--mount", "--", "sh", "-c", script, str(private)]
    probe = subprocess.run(
        [*prefix, "getent", "hosts", names[0]], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0 and NGINX_ADDRESS in probe.stdout:
        yield prefix, "a private mount namespace (`unshare --mount` + bind-mounted hosts file)"
        return
    original = hosts.read_text()
    try:
        hosts.write_text(original.rstrip("\n") + "\n" + block)
        yield [], "a marked block in /etc/hosts, removed afterwards"
    finally:
        kept = [line for line in hosts.read_text().splitlines() if not line.endswith(HOSTS_MARK)]
        hosts.write_text("\n".join(kept) + "\n")


def write_config(
    path: Path, endpoints: Sequence[tuple[str, int, str]], concurrency: int, ca_bundle: Path
) -> None:
    """A ticketbridge TOML with SPEC's keys only."""
    lines = [
        "# Generated by bench/run.py",
        "[discovery]",
        f"concurrency = {concurrency}",
        "connect_timeout = 5.0",
        "handshake_timeout = 10.0",
        f'ca_bundle = "{ca_bundle}"',
        "",
    ]
    for host, port, address in endpoints:
        lines += [
            "[[endpoints]]",
            f'host = "{host}"',
            f"port = {port}",
            f'addresses = ["{address}"]',
            "",
        ]
    path.write_text("\n".join(lines))


# --------------------------------------------------------------------------- peers


def run_openssl_loop(names: Sequence[str], work: Path) -> tuple[Run, int]:
    names_file = work / "openssl-names.txt"
    names_file.write_text("\n".join(names) + "\n")
    out = work / "openssl-loop.out"
    target = f"{NGINX_ADDRESS}:{NGINX_PORT}"
    argv = ["bash", "-c", OPENSSL_LOOP, "openssl-loop", target, str(names_file)]
    run = timed(argv, cwd=work, stdout=out, stderr=work / "openssl-loop.err")
    good = sum(line.startswith("notAfter=") for line in out.read_text().splitlines())
    return run, good


def run_ssl_cert_check(names: Sequence[str], work: Path, prefix: list[str]) -> tuple[Run, int]:
    list_file = work / "ssl-cert-check.list"
    list_file.write_text("".join(f"{name} {NGINX_PORT}\n" for name in names))
    out = work / "ssl-cert-check.out"
    argv = [*prefix, "ssl-cert-check", "-f", str(list_file)]
    run = timed(argv, cwd=work, stdout=out, stderr=work / "ssl-cert-check.err")
    wanted = {f"{name}:{NGINX_PORT}" for name in names}
    good = sum(
        1
        for line in out.read_text().splitlines()
        if line.split()[:2] and line.split()[0] in wanted and line.split()[1] == "Valid"
    )
    return run, good


@dataclass
class ScanCheck:
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    wrong_certificate: int = 0
    untrusted: int = 0
    certificates: int = 0

    def problems(self, expected: int) -> list[str]:
        found = []
        if self.ok != expected:
            found.append(f"{self.ok}/{expected} ok, errors {self.errors}")
        if self.wrong_certificate:
            found.append(f"{self.wrong_certificate} served a certificate without the SNI name")
        if self.untrusted:
            found.append(f"{self.untrusted} not verified as trusted")
        return found


def check_scan(output: Path) -> ScanCheck:
    """Did every endpoint yield the certificate nginx selects for its name, verified?"""
    check = ScanCheck()
    document = json.loads(output.read_text())
    for observation in document["observations"]:
        if observation["status"] != "ok":
            kind = (observation.get("error") or {}).get("kind", "?")
            check.errors[kind] = check.errors.get(kind, 0) + 1
            continue
        check.ok += 1
        if observation["endpoint"]["host"] not in observation["certificate"]["names"]:
            check.wrong_certificate += 1
        if not (observation.get("verification") or {}).get("trusted"):
            check.untrusted += 1
    check.certificates = len(document.get("certificates", []))
    return check


def run_ticketbridge(
    config: Path, work: Path, label: str, *, watch_memory: bool = True
) -> tuple[Run, list[str], ScanCheck]:
    """One `ticketbridge scan --format json`; the run, what was wrong with it, and the checks."""
    output = work / f"{label}.json"
    output.unlink(missing_ok=True)
    argv: list[str | Path] = [TICKETBRIDGE, "--config", config, "scan", "--format", "json"]
    argv += ["--output", output]
    run = timed(
        argv,
        cwd=work,
        stdout=work / f"{label}.stdout",
        stderr=work / f"{label}.stderr",
        watch_memory=watch_memory,
    )
    check = ScanCheck()
    if run.returncode != 0 or not output.exists():
        return run, [f"exit {run.returncode}: {run.stderr_tail or 'no output'}"], check
    try:
        check = check_scan(output)
    except (ValueError, KeyError, TypeError) as exc:
        return run, [f"unreadable output {output.name}: {exc!r}"], check
    return run, check.problems(sum(1 for _ in _endpoints_in(config))), check


def _endpoints_in(config: Path) -> Iterator[str]:
    return (line for line in config.read_text().splitlines() if line == "[[endpoints]]")


def repeated(
    config: Path, work: Path, label: str, times: int
) -> tuple[Run, list[str], ScanCheck, list[float]]:
    """Run `times` times; the median run by wall time, every problem seen, and all wall times.

    The timed runs are not sampled: reading `smaps_rollup` of the tree every 20 ms walks its page
    tables on the same two CPUs, and cost the 1,000-name scan 3-6% of its wall time (measured).
    Its peers are not sampled either. The memory column comes from one more run, sampled and
    not timed."""
    runs = [
        run_ticketbridge(config, work, f"{label}-{i}", watch_memory=False)
        for i in range(max(1, times))
    ]
    sampled, found, _ = run_ticketbridge(config, work, f"{label}-memory")
    problems = [p for _, found_in_run, _ in runs for p in found_in_run] + found
    runs.sort(key=lambda triple: triple[0].seconds)
    run, _, check = runs[len(runs) // 2]
    run = dataclasses.replace(run, tree=sampled.tree)
    return run, problems, check, [r.seconds for r, _, _ in runs]


# --------------------------------------------------------------------------- report


def table(rows: Sequence[Row]) -> str:
    head = ["Scenario", "Peer", "Handshakes", "Wall time", "Rate", "Ratio", "Client CPU"]
    head += ["nginx CPU", "Peak memory: tree PSS (tree RSS; largest process)", "Target"]
    head += ["Result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        run = row.run
        cells = [row.scenario, row.peer, f"{row.handshakes:,}"]
        if run is None:
            cells += ["–"] * 6
        else:
            per = 1000 / row.handshakes
            server = run.server_cpu_seconds
            cells += [
                f"{run.seconds:.2f} s",
                f"{row.rate:,.1f}/s",
                row.ratio or "–",
                f"{run.cpu_seconds:.2f} s ({run.cpu_seconds * per:.2f} ms/hs)",
                "–" if server is None else f"{server:.2f} s ({server * per:.2f} ms/hs)",
                _memory_cell(run) if "ticketbridge" in row.peer else "–",
            ]
        cells += [row.target or "–", row.result or "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _memory_cell(run: Run) -> str:
    tree = run.tree
    if tree is None or not tree.samples:
        return "–"  # not sampled (wait4's ru_maxrss would be this driver's size: TreeMemory)
    largest = f"{tree.peak_hwm_kib / 1024:.1f} MiB"
    return (
        f"{tree.peak_pss_kib / 1024:.1f} MiB ({tree.peak_rss_kib / 1024:.1f} MiB in "
        f"{tree.peak_processes} process{'es' if tree.peak_processes > 1 else ''}; {largest})"
    )


def environment(nginx_version: str) -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    version = subprocess.run(
        [str(TICKETBRIDGE), "--version"],
        capture_output=True,
        text=True,
        check=False,
        env=_clean_env(),
    ).stdout.strip()
    openssl = subprocess.run(
        ["openssl", "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return [
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; `{version or 'ticketbridge ?'}`"
        f" from the working tree at commit `{commit or '?'}` (uncommitted changes included)",
        f"- Machine: {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {openssl.split(' (')[0]}, nginx {nginx_version}",
    ]


# --------------------------------------------------------------------------- scenarios


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    fixture: fixtures.Fixture
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return self.fixture.names

    def config(self, label: str, endpoints: Sequence[tuple[str, int, str]], c: int) -> Path:
        path = self.work / f"{label}.toml"
        write_config(path, endpoints, c, self.fixture.root_path)
        return path

    def discovery(self) -> None:
        """1,000 names on one nginx: openssl loop, ssl-cert-check, ticketbridge; ratios."""
        args, names = self.args, self.names
        self.notes.append(f"Load average before the discovery scenario: {_loadavg()}.")
        openssl_rate, sslcc_rate = self.baselines()
        sslyze_rate = self.sslyze() if "sslyze" not in args.skip else None
        config = self.config(
            "discovery", [(n, NGINX_PORT, NGINX_ADDRESS) for n in names], args.concurrency
        )
        run, problems, check, walls = repeated(config, self.work, "discovery", args.repeat)
        row = Row("Discovery", f"ticketbridge scan (c={args.concurrency})", len(names), run)
        rate = row.rate or 0.0
        ratios = []
        if openssl_rate:
            ratios.append(f"**{rate / openssl_rate:.1f}×** openssl")
        if sslyze_rate:
            ratios.append(f"**{rate / sslyze_rate:.1f}×** sslyze")
        if sslcc_rate:
            ratios.append(f"{rate / sslcc_rate:.0f}× ssl-cert-check")
        row.ratio, row.problems = ", ".join(ratios), problems
        row.target = f"≥ {OPENSSL_TARGET}× openssl loop, ≥ {SSLYZE_TARGET}× sslyze"
        if problems:
            row.result = "FAIL"
        elif openssl_rate is None:
            row.result = "n/a"
        else:
            met = rate >= OPENSSL_TARGET * openssl_rate
            met = met and (sslyze_rate is None or rate >= SSLYZE_TARGET * sslyze_rate)
            row.result = "PASS" if met else "FAIL"
        self.rows.append(row)

        # The fixed cost of one invocation (interpreter, imports, config, output) on one endpoint.
        single = self.config("single", [(names[0], NGINX_PORT, NGINX_ADDRESS)], 1)
        fixed, _, _, _ = repeated(single, self.work, "single", 3)
        net = run.seconds - fixed.seconds
        self.notes.append(
            f"ticketbridge discovery: median of {len(walls)} runs "
            f"({', '.join(f'{w:.2f}' for w in walls)} s), whole-process wall time; "
            f"{check.certificates} tracked certificates found. A scan of one endpoint takes "
            f"{fixed.seconds:.2f} s (start-up, imports, config, output: {fixed.cpu_seconds:.2f} s"
            f" CPU), so the probing itself ran at ≈{(len(names) - 1) / net:,.0f} handshakes/s."
            if net > 0
            else "ticketbridge discovery: the one-endpoint scan took longer than the full one."
        )

        self.engines()

    def engines(self) -> None:
        """The TLS client's cost alone, both engines in one blocking loop (bench_engines.py)."""
        done = subprocess.run(
            [PYTHON, REPO / "bench" / "bench_engines.py", "--address", NGINX_ADDRESS,
             "--port", str(NGINX_PORT), "--rounds", "3", "--handshakes", "300"],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        lines = done.stdout.strip().splitlines() if done.returncode == 0 else []
        self.notes.append(
            "Client CPU per handshake in a bare blocking loop, no asyncio, no verdict "
            "(`bench/bench_engines.py`, 3 alternating rounds of 300): " + "; ".join(lines)
            if lines
            else f"bench_engines.py failed: {done.stderr.strip()[-300:]}"
        )

    def baselines(self) -> tuple[float | None, float | None]:
        """The serial openssl loop and ssl-cert-check on the same names: their rates."""
        args, names = self.args, self.names
        openssl_rate = sslcc_rate = None
        if "openssl" not in args.skip:
            subset = names[:: args.openssl_every]
            run, good = run_openssl_loop(subset, self.work)
            row = Row("Discovery", "openssl s_client loop (serial)", len(subset), run)
            row.ratio, row.target = "1×", "baseline"
            row.result = "ok" if good == len(subset) else f"FAIL: {good} dates"
            openssl_rate = row.rate
            self.rows.append(row)
            if args.openssl_every > 1:
                self.notes.append(
                    f"openssl loop timed on every {args.openssl_every}th name ({len(subset)}); "
                    f"all {len(names):,} would take ≈{_seconds_for(len(names), row.rate)} at that rate."
                )
        if "ssl-cert-check" not in args.skip:
            subset = names[:: args.ssl_cert_check_every]
            with names_resolve_locally(names, self.work) as (prefix, how):
                run, good = run_ssl_cert_check(subset, self.work, prefix)
            row = Row("Discovery", "ssl-cert-check -f", len(subset), run, target="baseline")
            row.result = "ok" if good == len(subset) else f"FAIL: {good} Valid"
            sslcc_rate = row.rate
            self.rows.append(row)
            self.notes.append(
                f"ssl-cert-check timed on every {args.ssl_cert_check_every}th name "
                f"({len(subset)}; all {len(names):,} would take ≈{_seconds_for(len(names), row.rate)});"
                f" the names resolved to {NGINX_ADDRESS} through {how}."
            )
        return openssl_rate, sslcc_rate

    def sslyze(self) -> float | None:
        """sslyze 6 --certinfo on every Nth name, same nginx, same trust anchor: its rate."""
        subset = self.names[:: self.args.sslyze_every]
        python = sslyze_peer.sslyze_python(self.work)
        argv, output = sslyze_peer.sslyze_argv(
            python, subset, NGINX_PORT, NGINX_ADDRESS, self.fixture.root_path, self.work
        )
        run = timed(
            argv, cwd=self.work, stdout=self.work / "sslyze.out", stderr=self.work / "sslyze.err"
        )
        good = sslyze_peer.sslyze_good(output, subset)
        row = Row("Discovery", "sslyze 6 --certinfo", len(subset), run, target="baseline")
        row.result = "ok" if good == len(subset) else f"FAIL: {good} chains with the name"
        self.rows.append(row)
        self.notes.append(
            f"sslyze timed on every {self.args.sslyze_every}th name ({len(subset)}; all "
            f"{len(self.names):,} would take ≈{_seconds_for(len(self.names), row.rate)}), "
            f"targets `NAME:{NGINX_PORT}{{{NGINX_ADDRESS}}}`, `--certinfo` only, the bench's root "
            "as `--certinfo_ca_file`, in its own venv (bench/work/sslyze-venv)."
        )
        return row.rate

    def startup(self) -> None:
        """What an invocation costs before any work: `--version`, and a scan of one file."""
        leaf = self.work / "startup-leaf.pem"
        leaf.write_bytes(self.fixture.leaves[0].chain_path.read_bytes())
        config = self.work / "startup.toml"
        config.write_text(f'[[files]]\npath = "{leaf}"\n')
        commands: tuple[tuple[str, list[str | Path]], ...] = (
            ("--version", [TICKETBRIDGE, "--version"]),
            ("scan of one file", [TICKETBRIDGE, "--config", config, "scan", "--format", "json"]),
        )
        for label, argv in commands:
            runs = [
                timed(
                    argv,
                    cwd=self.work,
                    stdout=self.work / "startup.out",
                    stderr=self.work / "startup.err",
                )
                for _ in range(5)
            ]
            runs.sort(key=lambda run: run.seconds)
            run = runs[len(runs) // 2]
            row = Row("Start-up", f"ticketbridge {label}", 1, run, target="< 0.15 s")
            row.result = "PASS" if run.returncode == 0 and run.seconds < STARTUP_TARGET else "FAIL"
            self.rows.append(row)
        self.notes.append("Start-up: median of 5 whole-process wall times each.")

    def wan(self) -> None:
        """2,000 endpoints through the latency proxy (and a 0 ms control through the same proxy)."""
        args = self.args
        endpoints = [(n, port, PROXY_ADDRESS) for port in PROXY_PORTS for n in self.names]
        config = self.config("wan", endpoints, args.wan_concurrency)
        self.notes.append(f"Load average before the WAN scenario: {_loadavg()}.")
        for delay in (args.delay, 0.0):
            with latency_proxy(self.work, delay) as proxy:
                label = f"wan-{delay * 1000:.0f}ms"
                run, problems, _, walls = repeated(config, self.work, label, args.repeat)
            rtt = f"{2 * delay * 1000:.0f} ms RTT"
            if delay:
                row = Row(
                    f"WAN, {rtt}",
                    f"ticketbridge scan (c={args.wan_concurrency})",
                    len(endpoints),
                    run,
                    target="≤ 5 s",
                    problems=problems,
                )
                row.result = "PASS" if not problems and run.seconds <= 5 else "FAIL"
            else:
                row = Row(
                    "WAN control, 0 ms",
                    f"ticketbridge scan (c={args.wan_concurrency})",
                    len(endpoints),
                    run,
                    target="(same proxy, no delay)",
                    problems=problems,
                )
                row.result = "FAIL" if problems else "ok"
            self.rows.append(row)
            stats = proxy.stats
            self.notes.append(
                f"{row.scenario}: median of {len(walls)} runs "
                f"({', '.join(f'{w:.2f}' for w in walls)} s) through bench/latency_proxy.py on "
                f"{PROXY_ADDRESS}:{'+'.join(map(str, PROXY_PORTS))} → nginx, "
                f"{delay * 1000:.0f} ms each way. The proxy used {proxy.cpu_seconds:.2f} s CPU for"
                f" {stats.get('connections', '?')} connections (at most {stats.get('max_open', '?')}"
                f" open at once) and delivered chunks late by median "
                f"{stats.get('lateness_ms_median', '?')} ms, p99 {stats.get('lateness_ms_p99', '?')}"
                f" ms, max {stats.get('lateness_ms_max', '?')} ms."
            )

    def memory(self) -> None:
        """20,000 endpoints at 256 in flight: peak RSS of the ticketbridge process."""
        args = self.args
        endpoints = [(n, NGINX_PORT, a) for a in MEMORY_ADDRESSES for n in self.names]
        config = self.config("memory", endpoints, args.memory_concurrency)
        self.notes.append(f"Load average before the memory scenario: {_loadavg()}.")
        run, problems, _ = run_ticketbridge(config, self.work, "memory")
        row = Row(
            "Memory",
            f"ticketbridge scan (c={args.memory_concurrency})",
            len(endpoints),
            run,
            target="≤ 120 MiB peak (tree PSS)",
            problems=problems,
        )
        tree = run.tree
        footprint = tree.peak_pss_kib if tree and tree.samples else run.max_rss_kib
        cpu_ms = 1000 * run.cpu_seconds / len(endpoints)
        row.target += f", client CPU < {CPU_PER_HANDSHAKE_TARGET_MS} ms/hs"
        memory_met = footprint <= 120 * 1024
        cpu_met = cpu_ms < CPU_PER_HANDSHAKE_TARGET_MS
        row.result = "PASS" if not problems and memory_met and cpu_met else "FAIL"
        if not problems and memory_met != cpu_met:
            row.result += (
                f" (memory {'PASS' if memory_met else 'FAIL'}, CPU {'PASS' if cpu_met else 'FAIL'})"
            )
        self.rows.append(row)
        self.notes.append(
            f"Memory: the 1,000 names × {len(MEMORY_ADDRESSES)} nginx listen addresses "
            f"({MEMORY_ADDRESSES[0]}–{MEMORY_ADDRESSES[-1]}:{NGINX_PORT}), direct (no proxy); "
            "judged on the peak PSS summed over the ticketbridge process tree (it forks probe "
            "workers for large scans; see the memory column's legend above)."
        )

    def shards(self) -> None:
        """The memory scenario's 20,000 endpoints as one scan and as 4 shard processes at once,
        then the merge: `plan --observations DIR` over 100,000 observations."""
        args = self.args
        endpoints = [(n, NGINX_PORT, a) for a in MEMORY_ADDRESSES for n in self.names]
        config = self.config("shards", endpoints, args.memory_concurrency)
        self.notes.append(f"Load average before the shard scenario: {_loadavg()}.")
        for count in (1, 4):
            out = self.work / f"shards-{count}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            argv: list[str | Path] = ["bash", "-c", SHARD_LOOP, "shards", str(count)]
            argv += [config, out, TICKETBRIDGE]
            run = timed(
                argv,
                cwd=self.work,
                stdout=self.work / f"shards-{count}.out",
                stderr=self.work / f"shards-{count}.err",
                watch_memory=True,
            )
            ok = sum(json.loads(line).get("status") == "ok" for line in _shard_lines(out))
            row = Row("Shards", f"ticketbridge scan --shard K/{count}, {count} at once",
                      len(endpoints), run, target="(measured)")  # fmt: skip
            row.result = "ok" if run.returncode == 0 and ok == len(endpoints) else "FAIL"
            if row.result != "ok":
                row.problems.append(f"exit {run.returncode}, {ok}/{len(endpoints)} ok")
            self.rows.append(row)
        merge_dir = self.work / "merge"
        shutil.rmtree(merge_dir, ignore_errors=True)
        total = synthetic_observations(self.work / "shards-4", 100_000, merge_dir)
        merge_config = self.config("merge", endpoints[:1], 1)
        argv = [TICKETBRIDGE, "--config", merge_config, "plan", "--format", "json"]
        argv += ["--observations", merge_dir]
        run = timed(argv, cwd=self.work, stdout=self.work / "merge.out",
                    stderr=self.work / "merge.err", watch_memory=True)  # fmt: skip
        row = Row(
            "Merge", "ticketbridge plan --observations (4 files)", total, run, target="(measured)"
        )
        row.result = "ok" if run.returncode == 0 else f"FAIL: exit {run.returncode}"
        self.rows.append(row)
        self.notes.append(
            f"Shards: the memory scenario's {len(endpoints):,} endpoints scanned by one process and"
            " by 4 `scan --shard K/4` processes at once on this machine (wall time of the whole set,"
            " CPU and peak PSS summed over every process); Merge: `plan --observations DIR` over "
            f"{total:,} observations (the shards' lines copied under other host names: "
            "each a distinct endpoint), reading, merging and planning them; its rate column is "
            "observations per second."
        )


SHARD_LOOP = """set -euo pipefail
count=$1 config=$2 out=$3 tb=$4
for k in $(seq 0 $((count - 1))); do
  "$tb" --config "$config" scan --shard "$k/$count" --format jsonl --output "$out/shard-$k.jsonl" &
done
wait
"""


def _shard_lines(out: Path) -> Iterator[str]:
    """The shards' JSONL lines, read afresh on every call: held as dicts, 20,000 of them made the
    driver a 400 MiB process, and Linux keeps a forked child's RSS high-water mark across exec,
    so the merge's own `ru_maxrss` reported the driver's size rather than ticketbridge's."""
    for path in sorted(out.glob("shard-*.jsonl")):
        with path.open() as handle:
            yield from (line for line in handle if line.strip())


def synthetic_observations(shards: Path, total: int, out: Path) -> int:
    """`total` observations for the merge scenario: the shards' real lines, copied under other
    host names (each copy a distinct endpoint) and spread over four shards, in four files."""
    out.mkdir(parents=True, exist_ok=True)
    handles = [(out / f"merge-{k}.jsonl").open("w") for k in range(4)]
    written, copies = 0, 0
    try:
        while written < total:
            before = written
            for line in _shard_lines(shards):
                if written >= total:
                    break
                copy = json.loads(line)
                endpoint = copy["endpoint"]
                assert isinstance(endpoint, dict)
                endpoint["host"] = f"c{copies}-{endpoint['host']}"
                endpoint["sni"] = endpoint["host"]
                copy["scanner"] = {"host": "bench", "shard": f"{written % 4}/4"}
                handles[written % 4].write(json.dumps(copy) + "\n")
                written += 1
            if written == before:
                raise BenchError(f"no shard observations under {shards}")
            copies += 1
    finally:
        for handle in handles:
            handle.close()
    return written


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--workdir", type=Path, default=BENCH / "work")
    add("--results", type=Path, default=BENCH / "results" / "latest.md")
    add("--certificates", type=int, default=200)
    add("--names-per-cert", type=int, default=5)
    add(
        "--rsa-every",
        type=int,
        default=10,
        help="every Nth leaf gets an RSA-2048 key, the others ECDSA P-256 (0: none)",
    )
    add("--concurrency", type=int, default=64, help="discovery scenario")
    add("--wan-concurrency", type=int, default=256)
    add("--memory-concurrency", type=int, default=256)
    add("--delay", type=float, default=0.05, help="proxy delay per direction, seconds")
    add("--openssl-every", type=int, default=1, help="time the openssl loop on every Nth name")
    add("--ssl-cert-check-every", type=int, default=5, help="time ssl-cert-check on every Nth name")
    add("--sslyze-every", type=int, default=5, help="time sslyze on every Nth name")
    add("--repeat", type=int, default=3, help="ticketbridge runs per fast scenario (median)")
    add(
        "--skip",
        action="append",
        default=[],
        choices=["openssl", "ssl-cert-check", "sslyze", "wan", "memory", "startup", "shards"],
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("nginx", "openssl", "ssl-cert-check", "unshare", "setpriv"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found: apt-get install -y nginx ssl-cert-check")
    if not TICKETBRIDGE.exists():
        raise BenchError(f"{TICKETBRIDGE} missing: create the venv and `pip install -e .`")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    signal.signal(signal.SIGTERM, _raise_system_exit)

    started = time.perf_counter()
    work = args.workdir.resolve() / "run"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    fixture = fixtures.build(work, args.certificates, args.names_per_cert, args.rsa_every)
    bench = Bench(args, work, fixture)
    with nginx(fixture, work) as nginx_version:
        env_lines = environment(nginx_version)
        if "startup" not in args.skip:
            bench.startup()
        bench.discovery()
        if "wan" not in args.skip:
            bench.wan()
        if "memory" not in args.skip:
            bench.memory()
        if "shards" not in args.skip:
            bench.shards()

    rsa = sum(leaf.key_type == "rsa2048" for leaf in fixture.leaves)
    report = [
        "# ticketbridge benchmark",
        "",
        *env_lines,
        f"- Fixtures: {len(fixture.leaves)} leaf certificates ({len(fixture.leaves) - rsa} "
        f"ECDSA P-256, {rsa} RSA-2048) under one intermediate (served with it), "
        f"{len(bench.names):,} DNS names, selected by SNI by one nginx on "
        f"{NGINX_ADDRESS}:{NGINX_PORT}: 1 worker process, no session cache, no tickets, so every"
        " handshake is a full one. Client, nginx (and the proxy) share the same CPUs.",
        "- Client CPU: user + system of the measured process and its children (the openssl loop's"
        " and ssl-cert-check's child processes included); nginx CPU: its worker, same interval.",
        "- Peak memory, sampled every 20 ms from /proc over the ticketbridge process and its forked"
        " workers: the peak of the summed PSS (shared copy-on-write pages charged once, in"
        " proportion: the tree's real footprint), the peak of the summed RSS (shared pages counted"
        " once per process: an over-estimate), and the high-water mark (VmHWM) of the largest single process (what"
        " `/usr/bin/time -v` reports).",
        "",
        table(bench.rows),
        "",
        *[f"- {note}" for note in bench.notes],
        *[
            f"- **Problem, {row.scenario} / {row.peer}**: {p}"
            for row in bench.rows
            for p in row.problems
        ],
        f"- Whole benchmark: {time.perf_counter() - started:.0f} s. "
        "Reproduce: `bash bench/run.sh` (as root; see bench/README.md).",
        "",
    ]
    text = "\n".join(report)
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    return 0 if all(row.result in ("ok", "PASS", "n/a") for row in bench.rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(2)
