"""The probing workers' observations on their way to the parent: rows of numbers, each value sent once.

Pickled as objects, every observation carried its own copy of the certificate facts, verdict
and timestamps that the other endpoints serving the same chain share, and a slotted dataclass
pickles and unpickles field by field in Python: 27 µs to pickle one observation in the worker,
and in the parent about 1 s of CPU per 20,000 to unpickle them and share the copies again
(cProfile, bench/README.md "Compact worker messages"). Here a worker sends each distinct value
once per pipe and then refers to it by its number, and an endpoint as its position in the
worker's share, which the parent already holds. The parent rebuilds each observation from its
own endpoint and one object per distinct value.

Values are matched by equality, as `interning.py` matches them: every field sent this way is a
frozen dataclass, a datetime, a string or a tuple of frozen dataclasses, so no two values of
different types compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from ticketbridge.core.model import Endpoint, Observation

# Every field but the endpoint, in their declared order: a row's numbers, and the constructor's
# positional arguments after the endpoint. A chain or the strays go as one value (a tuple of
# facts), shared by every endpoint that serves that chain.
_VALUE_FIELDS = tuple(field.name for field in fields(Observation) if field.name != "endpoint")
_values_of = attrgetter(*_VALUE_FIELDS)

# (the endpoint's position in the worker's share, or the Endpoint itself; one number per field)
Row = tuple[Any, tuple[int, ...]]
# (the values new to this pipe, in the order of their numbers; rows)
Message = tuple[list[object], list[Row]]

_NONE = 0  # every table starts with None, so that every field is a number


class ObservationPacker:
    """A worker's side of one pipe: observations in, messages out."""

    def __init__(self) -> None:
        self._number_by_value: dict[object, int] = {None: _NONE}
        # Values already numbered, by identity: a chain's facts are one object per DER within a
        # worker, and most timestamps and verdicts repeat, so most lookups end here without
        # hashing. Only the objects that are keys of `_number_by_value` are named here, and the
        # dict keeps them alive: no id in it can be reused while this packer lives.
        self._number_by_identity: dict[int, int] = {id(None): _NONE}
        self._fresh: list[object] = []
        self._position_of: dict[Endpoint, int] = {}
        self._positions = 0

    def endpoints(self, share: Iterable[Endpoint]) -> Iterator[Endpoint]:
        """The worker's share as it is probed, each endpoint's position noted for its row."""
        for endpoint in share:
            self._position_of.setdefault(endpoint, self._positions)
            self._positions += 1
            yield endpoint

    def _number(self, value: object) -> int:
        number = self._number_by_identity.get(id(value))
        if number is not None:
            return number
        number = self._number_by_value.get(value)
        if number is None:
            number = self._number_by_value[value] = len(self._number_by_value)
            self._number_by_identity[id(value)] = number
            self._fresh.append(value)
        return number

    def row(self, observation: Observation) -> Row:
        """One observation as a row; its new values wait for the next `message`."""
        # An endpoint is observed once: its position is forgotten as it is used, so the worker
        # holds the endpoints in flight, not its whole share. One the share did not list (or
        # listed twice) goes whole.
        position = self._position_of.pop(observation.endpoint, None)
        endpoint = observation.endpoint if position is None else position
        return endpoint, tuple(map(self._number, _values_of(observation)))

    def message(self, rows: list[Row]) -> Message:
        """The rows with every value they name that this pipe has not carried yet."""
        fresh, self._fresh = self._fresh, []
        return fresh, rows


class ObservationUnpacker:
    """The parent's side of one pipe: messages in, observations out."""

    def __init__(self, share: Sequence[Endpoint], shared: dict[object, object]) -> None:
        self._share = share
        self._values: list[Any] = [None]  # what each number stands for
        # Across the pipes: a chain two workers both saw becomes one set of objects.
        self._shared = shared

    def observations(self, message: Message) -> list[Observation]:
        fresh, rows = message
        share = self._share
        self._values.extend(map(self._shared_copy, fresh))
        value = self._values.__getitem__
        return [
            Observation(
                share[endpoint] if isinstance(endpoint, int) else endpoint,
                *map(value, numbers),
            )
            for endpoint, numbers in rows
        ]

    def _shared_copy(self, value: object) -> object:
        """The one object kept for `value`; a tuple's members are shared one by one, since an
        intermediate's facts arrive again inside every new chain that includes it."""
        if isinstance(value, tuple):
            value = tuple(self._shared.setdefault(member, member) for member in value)
        return self._shared.setdefault(value, value)
