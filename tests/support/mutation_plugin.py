"""A pytest plugin for mutation runs only: each run starts with the core's memo caches empty.

mutmut forks every mutant's run from a process that already ran the suite once, unmutated: a
result cached there (facts_from_der, a time zone, an ASCII host name) would answer for the
mutant and hide it. [tool.mutmut] loads this plugin with `-p support.mutation_plugin`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ticketbridge.core import model, plan, policy, x509facts


@pytest.fixture(autouse=True)
def _empty_core_caches() -> Iterator[None]:
    for cached in (
        x509facts.facts_from_der,
        x509facts._to_ascii_hostname,
        model.is_ip_literal,
        plan.natural_key,
        policy._zone,
    ):
        cached.cache_clear()
    yield
