"""Our trust and name verdicts equal `openssl verify`'s on chains hypothesis generates.

Each example is a batch of chains (the cost is openssl's start-up, so batches run several
processes at once). For every chain: trusted or not must agree, the failure class must be the
first one OpenSSL reports, and the name verdict must agree except where README.md ("Where
verdicts differ from OpenSSL, on purpose") says it differs, in the direction it says.

The run is seeded: `TB_ORACLE_SEED` if set, else the day's date, so CI tries new chains every
day while any failure prints the seed that reproduces it (`TB_ORACLE_SEED=<seed> pytest ...`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from oracle.chains import KEY_KINDS, NAME_CONSTRAINTS, BuiltChain, CertSpec, ChainSpec, build
from oracle.openssl import OracleVerdict, openssl_verdicts
from ticketbridge.discovery.chaincheck import MAX_CHAIN_DEPTH, Failure
from ticketbridge.discovery.verify import TrustVerifier

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

T = TypeVar("T")
NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
BATCH = 25
# CI: 80 batches of 25 = 2,000 chains; TB_ORACLE_EXAMPLES raises it for a longer hunt.
EXAMPLES = int(os.environ.get("TB_ORACLE_EXAMPLES", "80"))
SEED = int(os.environ.get("TB_ORACLE_SEED") or date.today().strftime("%Y%m%d"))


def usually(good: T, *unusual: T, weight: int = 12) -> st.SearchStrategy[T]:
    """Mostly the good shape, sometimes each unusual one: about half the chains come out
    trusted, and each way to fail is still tried hundreds of times per run."""
    return st.sampled_from((good,) * weight + unusual)


# Big RSA keys are slow to sign with: the cheap keys are likelier, every kind stays reachable.
_keys = st.sampled_from(("p256",) * 8 + ("p384", "rsa-2048", "ed25519") * 2 + KEY_KINDS)
_digests = usually("sha256", "sha384", "sha512", "sha224", "sha1", "md5", weight=20)
_validity = usually("valid", "expired", "future", "ends-now", "starts-now", weight=40)
_unknown_critical = usually(False, True, weight=40)
_name_constraints = usually("none", *NAME_CONSTRAINTS, weight=3 * len(NAME_CONSTRAINTS))
_aki_forms = usually("keyid", "keyid-issuer-serial", "issuer-serial", "wrong-serial", weight=12)


@st.composite
def ca_specs(draw: st.DrawFn) -> CertSpec:
    return CertSpec(
        key=draw(_keys),
        digest=draw(_digests),
        # Debian's `openssl req -x509` makes a non-critical basicConstraints and no keyUsage.
        basic_constraints=draw(
            st.sampled_from(("ca-critical",) * 10 + ("ca",) * 8 + ("absent", "not-ca"))
        ),
        path_length=draw(usually(None, 0, 1, 2, weight=10)),
        key_usage=draw(st.sampled_from(("ca",) * 10 + ("absent",) * 8 + ("ca-no-certsign",))),
        key_usage_critical=draw(st.booleans()),
        eku=draw(usually("absent", "server", "client", "any", weight=20)),
        ski=draw(usually(True, False, weight=6)),
        aki=draw(usually(True, False, weight=6)),
        aki_form=draw(_aki_forms),
        validity=draw(_validity),
        unknown_critical=draw(_unknown_critical),
        name_constraints=draw(_name_constraints),
        name_constraints_critical=draw(st.booleans()),
        ns_cert_type=draw(usually("absent", "ssl-ca", "smime-ca", "server", weight=20)),
    )


@st.composite
def leaf_specs(draw: st.DrawFn) -> CertSpec:
    return CertSpec(
        key=draw(_keys),
        digest=draw(_digests),
        basic_constraints=draw(
            st.sampled_from(("absent",) * 6 + ("not-ca",) * 6 + ("not-ca-critical", "ca"))
        ),
        key_usage=draw(st.sampled_from(("tls",) * 8 + ("absent",) * 6 + ("tls-no-signature",))),
        key_usage_critical=draw(st.booleans()),
        eku=draw(
            st.sampled_from(
                ("server",) * 10 + ("absent",) * 5 + ("server-client",) * 3 + ("client", "any")
            )
        ),
        ski=draw(st.booleans()),
        aki=draw(usually(True, False, weight=6)),
        aki_form=draw(_aki_forms),
        validity=draw(_validity),
        unknown_critical=draw(_unknown_critical),
        ns_cert_type=draw(usually("absent", "server", "client", "server-client", weight=20)),
    )


@st.composite
def chain_specs(draw: st.DrawFn) -> ChainSpec:
    return ChainSpec(
        root=draw(ca_specs()),
        # Mostly short chains; sometimes up to and past the 8-certificate cap.
        intermediates=tuple(
            draw(st.lists(ca_specs(), max_size=draw(usually(3, 6, 7, 8, weight=20))))
        ),
        leaf=draw(leaf_specs()),
        san=draw(
            st.sampled_from(
                ("exact",) * 4
                + ("wildcard", "apex") * 3
                + ("wildcard-deep", "partial-wildcard", "mismatch", "cn-only", "ip", "idn")
                + ("ip6", "ip-both")
            )
        ),
        host_form=draw(usually("plain", "upper", "trailing-dot", weight=8)),
        serve_root=draw(st.booleans()),
        order=draw(usually("in-order", "reversed", "rotated", "root-first", weight=6)),
        drop_intermediate=draw(usually(False, True, weight=12)),
        root_trusted=draw(usually(True, False, weight=15)),
        extra_anchor=draw(
            usually(
                "none", "intermediate-too", "intermediate-only", "leaf-too", "leaf-only", weight=16
            )
        ),
        serve_unrelated=draw(usually(False, True, weight=15)),
        names_org=draw(st.booleans()),
        issuer_spelling=draw(usually("same", "case", "spacing", "type", weight=9)),
        decoy=draw(usually("none", "other-key", "other-key-type", "expired-twin", weight=12)),
        cross=draw(
            usually(
                "none", "root-trusted", "old-root-trusted", "both-trusted", "expired-cross",
                weight=12,
            )
        ),
    )  # fmt: skip


def intentional_name_difference(chain: BuiltChain, ours: bool, theirs: bool) -> bool:
    """README.md, "Where verdicts differ from OpenSSL, on purpose": exactly these, this way."""
    if chain.spec.san == "cn-only":
        # A certificate without subjectAltName names nothing, as in browsers and Python's ssl;
        # OpenSSL's X509_check_host still falls back to the subject CN.
        return not ours and theirs
    if chain.host.endswith("."):
        # An absolute name (trailing dot) is the same host, as browsers treat it; OpenSSL
        # compares the bytes.
        return ours and not theirs
    if not chain.host.isascii():
        # A Unicode host is matched by its A-label (IDNA), as browsers do; OpenSSL compares
        # the bytes.
        return ours and not theirs
    if chain.spec.san == "partial-wildcard":
        # `a*.zone.test` matches nothing here, as in browsers and Python's ssl (which sets
        # X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS); OpenSSL's default matches app.zone.test.
        return not ours and theirs
    return False


def intentional_trust_difference(chain: BuiltChain, kind: Failure | None) -> bool:
    """README.md, "Chain length": a path past 8 certificates is refused here (OpenSSL: 100)."""
    longest = 1 + len(chain.spec.intermediates) + 1 + (chain.spec.cross != "none")
    return kind == Failure.CHAIN_TOO_LONG and longest > MAX_CHAIN_DEPTH


def mismatch(chain: BuiltChain, theirs: OracleVerdict) -> str | None:
    served = [certificate.public_bytes(Encoding.DER) for certificate in chain.served]
    verifier = TrustVerifier(chain.anchors)
    ours = verifier.verdict(served, chain.host, chain.now)
    failure = verifier.trust_failure(served, chain.now)
    if intentional_trust_difference(chain, failure.kind if failure else None):
        return None
    if ours.trusted != theirs.trusted:
        return f"trusted: ours {ours.trusted} ({ours.error}), openssl {list(theirs.errors)}"
    if failure is not None and str(failure.kind) != theirs.first_class:
        return f"failure: ours {failure.kind} ({failure.reason}), openssl {list(theirs.errors)}"
    assert theirs.hostname_match is not None
    if ours.hostname_match != theirs.hostname_match and not intentional_name_difference(
        chain, ours.hostname_match, theirs.hostname_match
    ):
        return f"hostname {chain.host}: ours {ours.hostname_match}, openssl {theirs.hostname_match}"
    return None


@pytest.mark.slow
@pytest.mark.timeout(900)
# Hypothesis would warn that a batch of 25 specs has a long repr; the failure says what matters.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@seed(SEED)
@settings(
    max_examples=EXAMPLES,
    database=None,  # the seed alone decides the chains, so a failure reproduces anywhere
    # No shrinking: each step re-runs openssl on a batch (minutes), and the failure message
    # already names every disagreeing chain's spec; the seed reproduces the batch.
    phases=(Phase.explicit, Phase.generate),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(chain_specs(), min_size=BATCH, max_size=BATCH))
def test_verdicts_equal_openssl_verify(specs: list[ChainSpec]) -> None:
    chains = [build(replace(spec, tag=i), NOW) for i, spec in enumerate(specs)]
    verdicts = openssl_verdicts(chains)
    problems = [
        f"{chain.spec}: {problem}"
        for chain, verdict in zip(chains, verdicts, strict=True)
        if (problem := mismatch(chain, verdict))
    ]
    assert not problems, f"TB_ORACLE_SEED={SEED} reproduces:\n" + "\n".join(problems)
