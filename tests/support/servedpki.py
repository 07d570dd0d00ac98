"""Served chains where the effective expiry and the validated path part ways, built for real.

Each scenario is a PKI a server really serves, with the dates it should yield: the shapes of
issue 15 (an expired same-key intermediate beside its re-issue, an AddTrust-style cross-sign, a
same-name intermediate under another key, an unrelated stray, a served root).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketbridge.testing.pki import Issued, issue, new_key

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Scenario:
    """What a server sends (leaf first), what the client trusts, and the expected answers."""

    name: str
    served: tuple[Issued, ...]
    anchors: tuple[Issued, ...]
    effective: datetime
    validated: datetime
    strays: tuple[Issued, ...] = ()
    # The served certificate off the validated path that sets the effective expiry, if any.
    off_path: Issued | None = None


def scenarios(now: datetime, host: str, *, leaf_days: int = 60) -> dict[str, Scenario]:
    """Every shape, with a leaf for `host` expiring `leaf_days` after `now`."""
    start = now - 400 * DAY
    root = issue("Served Test Root", None, not_before=start, not_after=now + 3650 * DAY, ca=True)
    int_key = new_key()
    intermediate = issue(
        "Served Test Intermediate",
        root,
        not_before=start,
        not_after=now + 900 * DAY,
        ca=True,
        key=int_key,
    )
    leaf = issue(
        host,
        intermediate,
        not_before=now - 30 * DAY,
        not_after=now + leaf_days * DAY,
        names=[host],
    )
    leaf_expiry = leaf.certificate.not_valid_after_utc
    built = [
        Scenario("plain", (leaf, intermediate), (root,), leaf_expiry, leaf_expiry),
        _served_root(now, host, leaf_days),
        _stray(now, leaf, intermediate, root),
        _same_name_other_key(now, host, leaf_days, root),
        _reissued_same_key(now, host, leaf_days, root),
        _cross_sign(now, host, leaf_days),
    ]
    return {scenario.name: scenario for scenario in built}


def _served_root(now: datetime, host: str, leaf_days: int) -> Scenario:
    # The served root expires first: clients use their own copy, so it never counts.
    root = issue("Short Root", None, not_before=now - 400 * DAY, not_after=now + 10 * DAY, ca=True)
    intermediate = issue(
        "Short Root Intermediate",
        root,
        not_before=now - 400 * DAY,
        not_after=now + 20 * DAY,
        ca=True,
    )
    leaf = issue(
        host, intermediate, not_before=now - DAY, not_after=now + leaf_days * DAY, names=[host]
    )
    expiry = intermediate.certificate.not_valid_after_utc
    return Scenario("served-root", (leaf, intermediate, root), (root,), expiry, expiry)


def _stray(now: datetime, leaf: Issued, intermediate: Issued, root: Issued) -> Scenario:
    other_root = issue("Other Root", None, not_before=now - 900 * DAY, not_after=now + DAY, ca=True)
    stray = issue(
        "Unrelated Expired CA",
        other_root,
        not_before=now - 800 * DAY,
        not_after=now - 30 * DAY,
        ca=True,
    )
    expiry = leaf.certificate.not_valid_after_utc
    return Scenario(
        "stray-expired", (leaf, stray, intermediate), (root,), expiry, expiry, strays=(stray,)
    )


def _same_name_other_key(now: datetime, host: str, leaf_days: int, root: Issued) -> Scenario:
    # An old intermediate of the same name under another key: it signed nothing served here.
    old = issue(
        "Same Name Intermediate",
        root,
        not_before=now - 800 * DAY,
        not_after=now - 3 * DAY,
        ca=True,
        key=new_key(),
    )
    new = issue(
        "Same Name Intermediate",
        root,
        not_before=now - 30 * DAY,
        not_after=now + 900 * DAY,
        ca=True,
        key=new_key(),
    )
    leaf = issue(host, new, not_before=now - DAY, not_after=now + leaf_days * DAY, names=[host])
    expiry = leaf.certificate.not_valid_after_utc
    return Scenario("same-name-other-key", (leaf, old, new), (root,), expiry, expiry, strays=(old,))


def _reissued_same_key(now: datetime, host: str, leaf_days: int, root: Issued) -> Scenario:
    # The intermediate was re-issued with the same key: both verify the leaf, so a client may
    # build through the expired one (OpenSSL prefers the valid one).
    key = new_key()
    old = issue(
        "Reissued Intermediate",
        root,
        not_before=now - 800 * DAY,
        not_after=now - 2 * DAY,
        ca=True,
        key=key,
    )
    new = issue(
        "Reissued Intermediate",
        root,
        not_before=now - 30 * DAY,
        not_after=now + 900 * DAY,
        ca=True,
        key=key,
    )
    leaf = issue(host, new, not_before=now - DAY, not_after=now + leaf_days * DAY, names=[host])
    return Scenario(
        "reissued-same-key",
        (leaf, old, new),
        (root,),
        old.certificate.not_valid_after_utc,
        leaf.certificate.not_valid_after_utc,
        off_path=old,
    )


def _cross_sign(now: datetime, host: str, leaf_days: int) -> Scenario:
    """AddTrust, 2020: the new root's key cross-signed by an old root, served for old clients.

    Modern clients hold the new root and stop there (OpenSSL: X509_V_FLAG_TRUSTED_FIRST); old
    ones build through the cross-sign, and broke when it expired.
    """
    new_root_key = new_key()
    new_root = issue(
        "USERTrust Test Root",
        None,
        not_before=now - 900 * DAY,
        not_after=now + 5000 * DAY,
        ca=True,
        key=new_root_key,
    )
    old_root = issue(
        "AddTrust Test Root", None, not_before=now - 900 * DAY, not_after=now + 10 * DAY, ca=True
    )
    cross = issue(
        "USERTrust Test Root",
        old_root,
        not_before=now - 900 * DAY,
        not_after=now - 2 * DAY,
        ca=True,
        key=new_root_key,
    )
    intermediate = issue(
        "Sectigo Test Intermediate",
        new_root,
        not_before=now - 900 * DAY,
        not_after=now + 900 * DAY,
        ca=True,
    )
    leaf = issue(
        host, intermediate, not_before=now - DAY, not_after=now + leaf_days * DAY, names=[host]
    )
    return Scenario(
        "cross-sign",
        (leaf, intermediate, cross),
        (new_root,),
        cross.certificate.not_valid_after_utc,
        leaf.certificate.not_valid_after_utc,
        off_path=cross,
    )
