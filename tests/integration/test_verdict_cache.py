"""A verifier reused for a whole run answers each (chain, name, moment) as a fresh one would:
its cache of whole verdicts never hands one name's or one day's verdict to another."""

from __future__ import annotations

from datetime import timedelta

from support.certs import (
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    make_ca,
    make_intermediate,
    make_leaf,
)
from ticketbridge.discovery.verify import TrustVerifier


def test_one_chain_asked_for_many_names_and_days_matches_fresh_verifiers() -> None:
    root = make_ca("Verdict Cache Root")
    intermediate = make_intermediate(root)
    leaf = make_leaf(intermediate, names=["a.example", "*.b.example"])
    chain = [leaf.der, intermediate.der]
    during = DEFAULT_NOT_BEFORE + timedelta(days=30)
    after = DEFAULT_NOT_AFTER + timedelta(days=1)
    questions = [
        ("a.example", during),
        ("x.b.example", during),
        ("other.example", during),
        ("a.example", after),
        (None, during),
        ("a.example", during),  # asked again: the first answer, unchanged
    ]
    reused = TrustVerifier([root.certificate])
    answers = [reused.verdict(chain, name, now) for name, now in questions]
    fresh = [TrustVerifier([root.certificate]).verdict(chain, name, now) for name, now in questions]
    assert answers == fresh
    assert [a.hostname_match for a in answers] == [True, True, False, True, True, True]
    assert [a.trusted for a in answers] == [True, True, True, False, True, True]
    assert answers[2].error is not None and "hostname mismatch" in answers[2].error
