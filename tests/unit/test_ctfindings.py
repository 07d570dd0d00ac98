"""Issued versus served, decided from plain data: what CT logged against what the run saw."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from support.builders import (
    NOW,
    RENEWED_EXPIRY,
    WILDCARD,
    WILDCARD_EXPIRY,
    WWW,
    WWW_EXPIRY,
    cert_id,
    inventory,
    served,
)
from ticketbridge.core.ctfindings import LoggedCert, ct_findings, normalised_serial
from ticketbridge.core.model import Endpoint, Observation, Protocol


def _served(host: str, names: tuple[str, ...], expiry: datetime, serial: str) -> Observation:
    observation = served(host, "192.0.2.10", names, expiry)
    assert observation.certificate is not None
    leaf = replace(observation.certificate, serial=serial)
    return replace(observation, certificate=leaf, chain=(leaf,))


def _logged(
    serial: str,
    names: tuple[str, ...],
    not_after: datetime,
    *,
    precertificate: bool = False,
) -> LoggedCert:
    return LoggedCert(
        serial=serial,
        names=tuple(sorted(names)),
        not_before=not_after - timedelta(days=90),
        not_after=not_after,
        issuer="CN=Test CA",
        source="ct:ct.json",
        precertificate=precertificate,
    )


FLEET = inventory(
    _served("app.example.com", WILDCARD, WILDCARD_EXPIRY, "a1"),
    _served("api.example.com", WILDCARD, WILDCARD_EXPIRY, "a1"),
    _served("www.example.com", WWW, WWW_EXPIRY, "b2"),
)
LISTED = {"app.example.com", "api.example.com", "www.example.com", "example.com"}


def test_a_newer_certificate_for_the_names_that_nobody_serves_is_issued_not_deployed() -> None:
    renewal = _logged("c3", WILDCARD, RENEWED_EXPIRY)
    findings = ct_findings(FLEET, [_logged("a1", WILDCARD, WILDCARD_EXPIRY), renewal], LISTED, NOW)
    (issued,) = findings.issued_not_deployed
    assert issued.certificate_id == cert_id(WILDCARD)
    assert issued.logged == renewal and issued.served_not_after == WILDCARD_EXPIRY


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (_logged("a1", WILDCARD, RENEWED_EXPIRY), "the served serial itself"),
        (_logged("c3", WILDCARD, WILDCARD_EXPIRY - timedelta(days=30)), "older than served"),
        (_logged("c3", WILDCARD, WILDCARD_EXPIRY), "no later than served"),
        (_logged("c3", ("other.example.org",), RENEWED_EXPIRY), "not for these names"),
        (_logged("c3", WILDCARD, NOW - timedelta(seconds=1)), "expired"),
        (_logged("b2", WILDCARD, RENEWED_EXPIRY), "served elsewhere (www)"),
    ],
)
def test_what_is_not_an_undeployed_renewal(entry: LoggedCert, why: str) -> None:
    assert ct_findings(FLEET, [entry], LISTED, NOW).issued_not_deployed == (), why


def test_one_name_in_common_is_enough_and_a_precert_with_its_certificate_is_one_issuance() -> None:
    pre = _logged("c3", ("app.example.com", "new.example.com"), RENEWED_EXPIRY, precertificate=True)
    final = replace(pre, precertificate=False)
    findings = ct_findings(
        inventory(_served("app.example.com", ("app.example.com",), WILDCARD_EXPIRY, "a1")),
        [pre, final],
        LISTED,
        NOW,
    )
    (issued,) = findings.issued_not_deployed
    assert issued.logged == final


def test_a_certificate_on_disk_only_is_not_deployed() -> None:
    on_disk = replace(
        _served("x", WILDCARD, RENEWED_EXPIRY, "c3"),
        endpoint=Endpoint("/etc/ssl/new.pem", 0, "#0", None, Protocol.FILE),
    )
    findings = ct_findings(
        inventory(*FLEET.certificates[0].observations, on_disk),
        [_logged("c3", WILDCARD, RENEWED_EXPIRY)],
        LISTED,
        NOW,
    )
    assert [i.logged.serial for i in findings.issued_not_deployed] == ["c3"]


def test_served_but_never_logged_is_judged_only_where_ct_speaks_for_the_names() -> None:
    logged = [_logged("a1", WILDCARD, WILDCARD_EXPIRY)]
    silent = ct_findings(FLEET, logged, LISTED, NOW)
    assert silent.served_not_logged == ()  # CT says nothing of www.example.com at all
    covered = ct_findings(FLEET, logged, LISTED, NOW, domains=["Example.COM."])
    (unlogged,) = covered.served_not_logged
    assert unlogged.certificate_id == cert_id(WWW) and unlogged.leaf.serial == "b2"
    assert unlogged.endpoints == ("www.example.com:443@192.0.2.10",)
    renamed = ct_findings(FLEET, [_logged("zz", WWW, WWW_EXPIRY)], LISTED, NOW)
    assert [u.leaf.serial for u in renamed.served_not_logged] == ["b2"]


def test_names_from_ct_that_no_source_lists() -> None:
    entries = [
        _logged("c3", (*WILDCARD, "legacy.example.com"), RENEWED_EXPIRY),
        _logged("d4", ("old.example.com",), NOW - timedelta(days=1)),
    ]
    findings = ct_findings(FLEET, entries, {"app.example.com"}, NOW)
    names = {item.name: item for item in findings.unlisted_names}
    # The wildcard is no name to list, an expired certificate no evidence of a live name.
    assert set(names) == {"example.com", "legacy.example.com"}
    assert names["example.com"].certificate_ids == (cert_id(WILDCARD),)
    assert names["legacy.example.com"].serials == ("c3",)
    assert findings.logged == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("03:FF:ee", "3ffee"), ("0000", "0"), ("-00ab", "-ab"), (" 0A 0b ", "a0b")],
)
def test_serials_compare_as_numbers_not_spellings(text: str, expected: str) -> None:
    assert normalised_serial(text) == expected
