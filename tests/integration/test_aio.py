"""infra/aio.py: `asyncio.run`'s result and errors, without rendering the result on the way out."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator

import pytest

from ticketbridge.infra import aio


class Watched:
    """A result that counts how often something renders it."""

    def __init__(self) -> None:
        self.renders = 0

    def __repr__(self) -> str:
        self.renders += 1
        return "Watched()"


async def _give(value: object) -> object:
    await asyncio.sleep(0)
    return value


@pytest.fixture
def ctrl_c_as_in_a_terminal() -> Iterator[None]:
    """asyncio.run takes SIGINT over only from Python's default handler, which a process
    started with SIGINT ignored (a background job of a script) does not have."""
    # SIGINT's handler is swapped only in the main thread, where the tests run.
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_as_in_a_terminal")
def test_the_result_comes_back_unrendered() -> None:
    plain = Watched()
    asyncio.run(_give(plain))
    if plain.renders == 0:
        pytest.skip("this Python's asyncio.run does not render the result: nothing to avoid")
    watched = Watched()
    assert aio.run(_give(watched)) is watched
    assert watched.renders == 0


def test_an_exception_propagates_as_asyncio_run_would() -> None:
    async def fail() -> None:
        await asyncio.sleep(0)
        raise LookupError("the coroutine's own error")

    with pytest.raises(LookupError, match="the coroutine's own error"):
        aio.run(fail())
