"""Running a coroutine to completion from synchronous code, as `asyncio.run` does, minus a cost
it hides.

`asyncio.run` installs a SIGINT handler that holds the main task, and puts the old one back when
the task is done. Python 3.11's `signal.signal` returns the handler it replaced as
`signal.Handlers(handler)` would, and for a handler that is none of the enum's values that
formats `repr(handler)` into a ValueError it then discards: a repr of the finished task, its
result included. `reprlib` shortens a list there, but renders a dataclass in full: a resolution
of 20,000 endpoints cost 84-132 ms of repr (measured; py-spy found it in the scan's parent).
Here the main task returns None, and the result comes back beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coroutine)`: its result, or its exception."""
    results: list[T] = []

    async def main() -> None:
        results.append(await coroutine)

    asyncio.run(main())
    return results[0]
