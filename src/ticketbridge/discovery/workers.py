"""Probing across worker processes: the client side of a TLS handshake is CPU-bound crypto, and
one event loop uses one core.

The workers are forked *before* the configuration is read, while the process holds little more
than its imported code: they share those pages with the parent and receive their endpoints over a
pipe, so a scan of tens of thousands of endpoints does not copy the parent's heap into each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from cryptography import x509

from ticketbridge.core.model import Endpoint, Observation, Verifier
from ticketbridge.discovery.tls import ProbeOptions, probe_all
from ticketbridge.discovery.verify import TrustVerifier, system_trust_anchors
from ticketbridge.discovery.wire import Message, ObservationPacker, ObservationUnpacker, Row
from ticketbridge.errors import LocalLimitError
from ticketbridge.infra import aio
from ticketbridge.infra.clock import utcnow_seconds as utcnow

# Below this many endpoints a second process costs more than it saves.
AUTO_WORKERS_MIN_ENDPOINTS = 512
MAX_AUTO_WORKERS = 8
_BATCH = 128
_RUN = 32
_SLICE = 256

ProgressCallback = Callable[[int], None]  # observations completed so far


def worker_count(configured: int, endpoints: int) -> int:
    """`discovery.workers`: 0 picks one per core for large scans and 1 for small ones."""
    if configured > 0:
        return configured
    if endpoints < AUTO_WORKERS_MIN_ENDPOINTS:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def can_fork() -> bool:
    """Forking a process that runs threads can deadlock the child; then probe in-process."""
    return hasattr(os, "fork") and threading.active_count() == 1


def worker_share(endpoints: Sequence[Endpoint], index: int, size: int) -> list[Endpoint]:
    """Worker `index`'s endpoints: runs of _RUN neighbours, dealt out in turn. Neighbours in a
    configuration tend to serve one certificate (a host's addresses, a wildcard's names), and a
    chain verified in one worker is verified for every endpoint that worker probes; dealing
    runs rather than single endpoints keeps each worker's share of slow hosts even."""
    return [
        endpoint
        for start in range(index * _RUN, len(endpoints), size * _RUN)
        for endpoint in endpoints[start : start + _RUN]
    ]


@dataclass(frozen=True, slots=True)
class _Job:
    # The share's first slice; with `more`, the rest follow on the same pipe, slice by slice.
    endpoints: Sequence[Endpoint]
    options: ProbeOptions
    concurrency: int
    extra_anchors: Sequence[bytes] | None  # DER of `ca_bundle`; None: no verdicts at all
    more: bool = False


def _slices(share: Sequence[Endpoint]) -> list[list[Endpoint]]:
    return [list(share[start : start + _SLICE]) for start in range(0, len(share), _SLICE)]


def _share_endpoints(job: _Job, jobs: Connection) -> Iterator[Endpoint]:
    """The worker's endpoints, read from the parent a slice at a time as the probes need them:
    a worker holds a few hundred endpoints, not its whole share (10,000 of them were 3 MiB).
    The parent's feeder writes ahead into the pipe, so the read rarely waits."""
    yield from job.endpoints
    if not job.more:
        return
    while True:
        try:
            piece: list[Endpoint] | None = jobs.recv()
        except (EOFError, OSError):
            return  # the parent is gone; _die_with_parent ends this process
        if not piece:  # an empty slice ends the share (None: the pool is closing)
            return
        yield from piece


def _feed(jobs: Connection, slices: Sequence[list[Endpoint]]) -> None:
    """In a thread of the parent: write a worker's remaining slices, then the end of its share.
    The pipe's back-pressure paces it; the parent's main thread keeps reading observations
    meanwhile, so neither side can wait on the other."""
    with contextlib.suppress(OSError, ValueError):  # the worker died or was stopped
        for piece in slices:
            jobs.send(piece)
        jobs.send([])


_DONE = "done"


@dataclass(frozen=True, slots=True)
class _Stopped:
    """A worker stopped by a limit of this machine; the parent raises it as `LocalLimitError`."""

    message: str


_PR_SET_PDEATHSIG = 1  # prctl(2), <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when the parent dies, however it dies (prctl(2))."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def _worker_loop(
    jobs: Connection,
    results: Connection,
    parent: int,
    siblings: Sequence[Connection],
    system_anchors: Sequence[x509.Certificate],
) -> None:
    """Run in the forked child: one job, its observations streamed back in batches."""
    # Ctrl-C reaches the whole process group: the parent handles it and stops the workers, which
    # would otherwise each print a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent's SIGTERM handler raises in *its* main thread; a worker just ends.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    # The parent's ends of earlier workers' pipes, inherited by the fork: holding them would keep
    # those workers from ever seeing the parent go away (EOF), so idle ones would wait forever.
    for connection in siblings:
        connection.close()
    # While the parent reads its configuration: indexing the store canonicalises every anchor's
    # name, so the index built with the job's `ca_bundle` finds them cached.
    TrustVerifier(system_anchors)
    _import_what_probes_import_on_first_use()
    try:
        job: _Job | None = jobs.recv()
    except EOFError:
        return
    if job is None:
        return
    verifier: Verifier | None = None
    if job.extra_anchors is not None:
        extra = TrustVerifier.from_der(job.extra_anchors).anchors
        verifier = TrustVerifier([*system_anchors, *extra])

    packer = ObservationPacker()

    async def run() -> None:
        batch: list[Row] = []
        share = packer.endpoints(_share_endpoints(job, jobs))
        async for observation in probe_all(share, job.options, job.concurrency, verifier, utcnow):
            batch.append(packer.row(observation))
            if len(batch) >= _BATCH:
                results.send(packer.message(batch))
                batch = []
        if batch:
            results.send(packer.message(batch))

    try:
        asyncio.run(run())
    except LocalLimitError as exc:
        results.send(_Stopped(str(exc)))
        return
    results.send(_DONE)


def _import_what_probes_import_on_first_use() -> None:
    """Modules the first probes would import (cryptography loads some lazily, and so do we),
    imported while the parent is still reading its configuration and this process would wait:
    during the probes, every worker imported them at once, on CPUs the handshakes need (py-spy,
    1,000-name bench: 16 ms per worker)."""
    import resource  # noqa: F401 - discovery/fdlimit.py, at the first probe

    # x509facts: a certificate's DER; ec: what an ECDSA signature's parameters load
    from cryptography.hazmat.backends.openssl import backend  # noqa: F401
    from cryptography.hazmat.primitives import serialization  # noqa: F401


@dataclass
class _Worker:
    process: BaseProcess
    jobs: Connection
    results: Connection


def _prepare_shared_state() -> list[x509.Certificate]:
    """What every worker needs, made once before the fork so that its pages are shared rather
    than built again in each worker: the system trust store (1.2 MiB parsed), the TLS client
    context, and OpenSSL's algorithm caches, filled by one ClientHello written to memory (no
    connection). On the 20,000-endpoint bench: about 2.5 MiB less over the process tree."""
    from ticketbridge.discovery.tlsengine import ClientTls

    warm = ClientTls.start("warm-up.invalid")
    warm.handshake()
    warm.take_output()
    return system_trust_anchors()


class WorkerPool:
    """Idle forked workers waiting for one probing job each."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("fork")
        # Handed to the forked workers as they are (a fork pickles no arguments).
        system_anchors = _prepare_shared_state()
        # Objects alive now (imported code, mostly) are never collected: keeping the collector
        # away from them keeps their pages shared with the workers instead of copied.
        gc.freeze()
        self.workers: list[_Worker] = []
        self._feeders: list[threading.Thread] = []
        parent = os.getpid()
        for _ in range(size):
            job_receiver, job_sender = context.Pipe(duplex=False)
            result_receiver, result_sender = context.Pipe(duplex=False)
            siblings = [end for w in self.workers for end in (w.jobs, w.results)]
            siblings += [job_sender, result_receiver]
            process = context.Process(
                target=_worker_loop,
                args=(job_receiver, result_sender, parent, siblings, system_anchors),
                daemon=True,
            )
            process.start()
            job_receiver.close()
            result_sender.close()
            self.workers.append(_Worker(process, job_sender, result_receiver))

    @property
    def size(self) -> int:
        return len(self.workers)

    def _join_feeders(self) -> None:
        """The feeders end once their slices are written, or at once when the worker is gone
        (EPIPE): joined before any connection they write to is closed."""
        for feeder in self._feeders:
            feeder.join()
        self._feeders = []

    def kill(self) -> None:
        """Stop every worker now: for an interrupted scan, whose probes are worth nothing."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self.workers:
            worker.process.join()
        self._join_feeders()
        for worker in self.workers:
            worker.jobs.close()
            worker.results.close()
        self.workers = []

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.jobs.send(None)
            worker.jobs.close()
            worker.results.close()
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self.workers = []

    def probe(
        self,
        endpoints: Sequence[Endpoint],
        options: ProbeOptions,
        *,
        concurrency: int,
        workers: int,
        extra_anchors: Sequence[bytes] | None,
        verifier: Callable[[], Verifier | None],
        progress: ProgressCallback | None = None,
    ) -> list[Observation]:
        """Shard the endpoints over `workers` of the pool, `concurrency` split between them.

        An endpoint whose worker died before reporting it is probed again in this process, so a
        crashed worker costs time, never an observation.
        """
        size = max(1, min(workers, self.size))
        per_worker = max(1, concurrency // size)
        running: dict[Connection, ObservationUnpacker] = {}
        shared: dict[object, object] = {}
        for index, worker in enumerate(self.workers):
            share = worker_share(endpoints, index, size) if index < size else []
            slices = _slices(share)
            job = (
                _Job(slices[0], options, per_worker, extra_anchors, len(slices) > 1)
                if slices
                else None
            )
            try:
                worker.jobs.send(job)
            except OSError:  # the worker is gone: its shard is probed below, in this process
                continue
            if len(slices) > 1:
                feeder = threading.Thread(target=_feed, args=(worker.jobs, slices[1:]), daemon=True)
                feeder.start()
                self._feeders.append(feeder)
            if slices:
                running[worker.results] = ObservationUnpacker(share, shared)

        try:
            observations = self._collect(running, progress)
        except BaseException:
            # Ctrl-C, SIGTERM, a local limit: the workers' probes are abandoned, not awaited
            # (a tarpit would hold each for `handshake_timeout`).
            self.kill()
            raise
        self._join_feeders()
        seen = {observation.endpoint for observation in observations}
        missing = [endpoint for endpoint in endpoints if endpoint not in seen]
        if missing:
            observations.extend(aio.run(_in_process(missing, options, concurrency, verifier())))
        return observations

    @staticmethod
    def _collect(
        running: dict[Connection, ObservationUnpacker],
        progress: ProgressCallback | None,
    ) -> list[Observation]:
        observations: list[Observation] = []
        while running:
            for ready in wait(list(running)):
                assert isinstance(ready, Connection)
                try:
                    message: Message | str | _Stopped = ready.recv()
                except (EOFError, OSError):
                    message = _DONE
                if isinstance(message, _Stopped):
                    raise LocalLimitError(message.message)
                if message == _DONE:
                    running.pop(ready)
                    continue
                assert isinstance(message, tuple)
                observations.extend(running[ready].observations(message))
                if progress:
                    progress(len(observations))
        return observations


async def _in_process(
    endpoints: Sequence[Endpoint],
    options: ProbeOptions,
    concurrency: int,
    verifier: Verifier | None,
) -> list[Observation]:
    return [o async for o in probe_all(endpoints, options, concurrency, verifier, utcnow)]


@contextlib.contextmanager
def prefork(size: int | None = None) -> Iterator[WorkerPool | None]:
    """Fork the probing workers now, before anything large is loaded; None where forking is
    unsafe (threads running) or pointless (one core)."""
    count = size if size is not None else min(os.cpu_count() or 1, MAX_AUTO_WORKERS)
    if count < 2 or not can_fork():
        yield None
        return
    pool = WorkerPool(count)
    try:
        yield pool
    finally:
        pool.close()
