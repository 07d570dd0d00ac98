"""Hostile PKI costs a bounded, small amount of work, and the verdict still agrees with OpenSSL:
trust stores whose CAs are cross-signed by each other, and name constraints multiplied by names.

Issue 15 ("Bounded on hostile PKI"): each case here hung or took tens of seconds of CPU before.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from oracle.chains import BuiltChain, CertSpec, make_certificate, private_key, subject_name
from oracle.openssl import openssl_verdict
from ticketbridge.discovery.chaincheck import MAX_CHAIN_DEPTH
from ticketbridge.discovery.nameconstraints import NAME_CHECK_MAX
from ticketbridge.discovery.verify import TrustVerifier

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
LEAF = CertSpec(basic_constraints="not-ca", key_usage="tls", eku="server")
HOST = "app.zone.test"


def _verdict(chain: BuiltChain) -> tuple[bool, str | None, str | None, float]:
    served = [c.public_bytes(Encoding.DER) for c in chain.served]
    verifier = TrustVerifier(chain.anchors)
    started = time.process_time()
    failure = verifier.trust_failure(served, chain.now)
    spent = time.process_time() - started
    if failure is None:
        return True, None, None, spent
    return False, str(failure.kind), failure.reason, spent


def _cross_signed_pair() -> dict[str, x509.Certificate]:
    """CA A signed by B and B signed by A, beside each one's self-signed root."""
    key_a, key_b = private_key("p256", 21), private_key("p256", 22)
    name_a, name_b = subject_name("hostile A"), subject_name("hostile B")
    return {
        "a-self": make_certificate(CertSpec(), name_a, key_a, name_a, key_a, now=NOW),
        "b-self": make_certificate(CertSpec(), name_b, key_b, name_b, key_b, now=NOW),
        "a-by-b": make_certificate(CertSpec(), name_a, key_a, name_b, key_b, now=NOW),
        "b-by-a": make_certificate(CertSpec(), name_b, key_b, name_a, key_a, now=NOW),
        "leaf": make_certificate(
            LEAF, subject_name(HOST), private_key("p256", 23), name_a, key_a, now=NOW,
            names=[x509.DNSName(HOST)],
        ),
    }  # fmt: skip


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "store",
    [
        ("a-by-b", "b-by-a"),
        ("a-by-b", "b-by-a", "a-self", "b-self"),
        ("b-by-a", "a-by-b", "b-self", "a-self"),
        ("a-self", "b-self", "a-by-b", "b-by-a"),
    ],
)
def test_cas_cross_signed_by_each_other_end_at_once_with_openssls_verdict(
    store: tuple[str, ...],
) -> None:
    pki = _cross_signed_pair()
    chain = BuiltChain(
        spec=None,  # type: ignore[arg-type]
        served=(pki["leaf"],),
        anchors=tuple(pki[name] for name in store),
        host=HOST,
        now=NOW,
    )
    trusted, kind, reason, spent = _verdict(chain)
    theirs = openssl_verdict(chain)
    assert (trusted, kind) == (theirs.trusted, theirs.first_class), (reason, theirs.errors)
    assert spent < 1.0
    if not trusted:
        # OpenSSL follows the first valid same-name CA of its store, loops, and stops at its
        # depth limit; we stop at ours and say why.
        assert kind == "chain-too-long"
        assert reason is not None
        assert "CN=hostile A and CN=hostile B" in reason
        assert "cross-signed by each other" in reason
        assert f"stopped after {MAX_CHAIN_DEPTH} certificates" in reason


def _constrained_chain(names: int, constraints: int, *, wrong_signature: bool) -> BuiltChain:
    """A trusted root, an intermediate excluding `constraints` DNS subtrees, and a leaf with
    `names` DNS names (issue 15: 16,000 x 10,000 cost ~44 s of CPU per probe)."""
    root_key, ca_key, leaf_key = (private_key("p256", slot) for slot in (31, 32, 33))
    root_name, ca_name = subject_name("hostile root"), subject_name("hostile constrained CA")
    root = make_certificate(CertSpec(), root_name, root_key, root_name, root_key, now=NOW)
    excluded = [x509.DNSName(f"x{i}.excluded.test") for i in range(constraints)]
    ca = make_certificate(
        CertSpec(), ca_name, ca_key, root_name, root_key, now=NOW,
        name_constraints=x509.NameConstraints(permitted_subtrees=None, excluded_subtrees=excluded),
    )  # fmt: skip
    leaf = make_certificate(
        replace(LEAF, aki=False), subject_name(HOST), leaf_key, ca_name,
        private_key("p256", 34) if wrong_signature else ca_key, now=NOW,
        names=[x509.DNSName(HOST)] + [x509.DNSName(f"n{i}.zone.test") for i in range(names - 1)],
    )  # fmt: skip
    return BuiltChain(None, (leaf, ca), (root,), HOST, NOW)  # type: ignore[arg-type]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("names", "constraints", "wrong_signature", "expected"),
    [
        # Over OpenSSL's NAME_CHECK_MAX: refused at once (X509_V_ERR_UNSPECIFIED), not checked.
        (16_000, 10_000, False, "name-constraints"),
        # Signatures are judged before name constraints, as OpenSSL 3 does.
        (16_000, 10_000, True, "signature"),
        # Just under the limit: checked in full, each name a few set look-ups.
        (1_000, NAME_CHECK_MAX // 1_001, False, None),
    ],
)
def test_names_times_constraints_cost_little_and_agree_with_openssl(
    names: int, constraints: int, wrong_signature: bool, expected: str | None
) -> None:
    chain = _constrained_chain(names, constraints, wrong_signature=wrong_signature)
    trusted, kind, reason, spent = _verdict(chain)
    theirs = openssl_verdict(chain)
    assert (trusted, kind) == (theirs.trusted, theirs.first_class), (reason, theirs.errors)
    assert kind == expected, reason
    assert spent < 2.0, f"{spent:.1f} s of CPU for one verdict"
    if expected == "name-constraints":
        assert reason is not None
        assert "too many to check" in reason
        assert f"{NAME_CHECK_MAX:,}" in reason


@pytest.mark.timeout(30)
def test_a_served_chain_of_cas_cross_signed_by_each_other_ends_at_once() -> None:
    """Served certificates already on the path are not used again (x509_vfy.c find_issuer()),
    so a served loop ends as "unable to get issuer", with the loop named."""
    pki = _cross_signed_pair()
    stranger = make_certificate(
        CertSpec(), subject_name("hostile stranger"), private_key("p256", 24),
        subject_name("hostile stranger"), private_key("p256", 24), now=NOW,
    )  # fmt: skip
    chain = BuiltChain(None, (pki["leaf"], pki["b-by-a"], pki["a-by-b"]), (stranger,), HOST, NOW)  # type: ignore[arg-type]
    trusted, kind, reason, spent = _verdict(chain)
    theirs = openssl_verdict(chain)
    assert (trusted, kind) == (theirs.trusted, theirs.first_class), (reason, theirs.errors)
    assert kind == "unknown-issuer"
    assert reason == (
        "issuer CN=hostile A of CA certificate CN=hostile B is served but already on the path "
        "(the served chain loops)"
    )
    assert spent < 1.0
