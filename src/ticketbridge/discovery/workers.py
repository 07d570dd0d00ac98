"""Probing across worker processes: the client side of a TLS handshake is CPU-bound crypto, and
one event loop uses one core."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from multiprocessing.connection import Connection, wait

from ticketbridge.discovery.tls import ProbeOptions, Verifier, probe_all
from ticketbridge.model import CertFacts, Endpoint, Observation

# Below this many endpoints a second process costs more than it saves.
AUTO_WORKERS_MIN_ENDPOINTS = 512
_BATCH = 128

ProgressCallback = Callable[[int], None]  # observations completed so far


def worker_count(configured: int, endpoints: int) -> int:
    """`discovery.workers`: 0 picks one per core for large scans and 1 for small ones."""
    if configured > 0:
        return configured
    if endpoints < AUTO_WORKERS_MIN_ENDPOINTS:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def can_fork() -> bool:
    """Forking a process that runs threads can deadlock the child; then probe in-process."""
    return hasattr(os, "fork") and threading.active_count() == 1


async def _collect(
    endpoints: Sequence[Endpoint],
    options: ProbeOptions,
    concurrency: int,
    verifier: Verifier | None,
    clock: Callable[[], datetime],
    on_batch: Callable[[list[Observation]], None],
) -> None:
    batch: list[Observation] = []
    async for observation in probe_all(endpoints, options, concurrency, verifier, clock):
        batch.append(observation)
        if len(batch) >= _BATCH:
            on_batch(batch)
            batch = []
    if batch:
        on_batch(batch)


def _worker_main(
    endpoints: Sequence[Endpoint],
    options: ProbeOptions,
    concurrency: int,
    verifier: Verifier | None,
    clock: Callable[[], datetime],
    connection: Connection,
) -> None:
    try:
        asyncio.run(_collect(endpoints, options, concurrency, verifier, clock, connection.send))
    finally:
        connection.close()


class _Interner:
    """Observations arrive pickled: share one CertFacts per fingerprint again, as in-process."""

    def __init__(self) -> None:
        self._facts: dict[str, CertFacts] = {}

    def facts(self, facts: CertFacts) -> CertFacts:
        return self._facts.setdefault(facts.fingerprint_sha256, facts)

    def observation(self, observation: Observation) -> Observation:
        if not observation.chain:
            return observation
        chain = tuple(self.facts(facts) for facts in observation.chain)
        return replace(observation, certificate=chain[0], chain=chain)


def probe_in_workers(
    endpoints: Sequence[Endpoint],
    options: ProbeOptions,
    concurrency: int,
    workers: int,
    verifier: Verifier | None,
    clock: Callable[[], datetime],
    progress: ProgressCallback | None = None,
) -> list[Observation]:
    """Shard the endpoints over `workers` forked processes, `concurrency` split between them.

    An endpoint whose worker died before reporting it is probed again in this process, so a
    crashed worker costs time, never an observation.
    """
    context = multiprocessing.get_context("fork")
    per_worker = max(1, concurrency // workers)
    shards = [list(endpoints[index::workers]) for index in range(workers)]
    running: dict[Connection, multiprocessing.process.BaseProcess] = {}
    for shard in shards:
        if not shard:
            continue
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_main,
            args=(shard, options, per_worker, verifier, clock, sender),
            daemon=True,
        )
        process.start()
        sender.close()
        running[receiver] = process

    interner = _Interner()
    observations: list[Observation] = []
    while running:
        for ready in wait(list(running)):
            assert isinstance(ready, Connection)
            try:
                batch: list[Observation] = ready.recv()
            except (EOFError, OSError):
                running.pop(ready).join()
                ready.close()
                continue
            observations.extend(interner.observation(observation) for observation in batch)
            if progress:
                progress(len(observations))

    seen = {observation.endpoint for observation in observations}
    missing = [endpoint for endpoint in endpoints if endpoint not in seen]
    if missing:
        observations.extend(
            asyncio.run(_in_process(missing, options, concurrency, verifier, clock))
        )
    return observations


async def _in_process(
    endpoints: Sequence[Endpoint],
    options: ProbeOptions,
    concurrency: int,
    verifier: Verifier | None,
    clock: Callable[[], datetime],
) -> list[Observation]:
    return [o async for o in probe_all(endpoints, options, concurrency, verifier, clock)]
