"""The verdicts issue 9 found wrong, each judged by OpenSSL too: private CAs made by the
`openssl` command itself, weak keys, weak signatures, and reasons that name the real fault."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from oracle.chains import BuiltChain, CertSpec, ChainSpec, build
from oracle.openssl import openssl_verdict
from ticketbridge.discovery.verify import TrustVerifier

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
LEAF = CertSpec(basic_constraints="not-ca", key_usage="tls", eku="server")


def _openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


def _ders(*paths: Path) -> list[bytes]:
    return [
        x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)
        for path in paths
    ]


def test_a_private_ca_made_the_way_openssl_and_debian_make_it_is_trusted(tmp_path: Path) -> None:
    """`openssl req -x509` with Debian's /etc/ssl/openssl.cnf (v3_ca: no keyUsage) for the root,
    and the common recipe for an intermediate: `basicConstraints = CA:TRUE`, not critical."""
    (tmp_path / "ca.ext").write_text("basicConstraints = CA:TRUE\n")
    (tmp_path / "leaf.ext").write_text("subjectAltName = DNS:app.corp.test\n")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *key, "-keyout", "root.key", "-out", "root.pem",
             "-subj", "/O=Corp/CN=Corp Root", "-days", "3650", cwd=tmp_path)  # fmt: skip
    _openssl("req", *key, "-keyout", "int.key", "-out", "int.csr",
             "-subj", "/O=Corp/CN=Corp Issuing", cwd=tmp_path)  # fmt: skip
    _openssl("x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key",
             "-CAcreateserial", "-extfile", "ca.ext", "-days", "1000", "-out", "int.pem",
             cwd=tmp_path)  # fmt: skip
    _openssl("req", *key, "-keyout", "leaf.key", "-out", "leaf.csr",
             "-subj", "/CN=app.corp.test", cwd=tmp_path)  # fmt: skip
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey", "int.key",
             "-CAcreateserial", "-extfile", "leaf.ext", "-days", "90", "-out", "leaf.pem",
             cwd=tmp_path)  # fmt: skip
    root = x509.load_pem_x509_certificate((tmp_path / "root.pem").read_bytes())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with pytest.raises(x509.ExtensionNotFound):
        root.extensions.get_extension_for_class(x509.KeyUsage)

    oracle = subprocess.run(
        ["openssl", "verify", "-auth_level", "2", "-purpose", "sslserver",
         "-verify_hostname", "app.corp.test", "-CAfile", "root.pem",
         "-untrusted", "int.pem", "leaf.pem"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert oracle.returncode == 0, oracle.stderr

    verdict = TrustVerifier([root]).verdict(
        _ders(tmp_path / "leaf.pem", tmp_path / "int.pem"), "app.corp.test", datetime.now(UTC)
    )
    assert (verdict.trusted, verdict.hostname_match, verdict.error) == (True, True, None)


def _judged(spec: ChainSpec) -> tuple[BuiltChain, str | None, bool]:
    chain = build(spec, NOW)
    served = [c.public_bytes(Encoding.DER) for c in chain.served]
    verdict = TrustVerifier(chain.anchors).verdict(served, chain.host, NOW)
    return chain, verdict.error, verdict.trusted


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("rsa-512", "RSA-512 gives 56-bit security, clients require 112-bit security"),
        ("rsa-1024", "RSA-1024 gives 80-bit security, clients require 112-bit security"),
    ],
)
def test_a_weak_leaf_key_from_a_trusted_ca_is_refused_in_plain_words(key: str, words: str) -> None:
    spec = ChainSpec(
        root=CertSpec(), intermediates=(), leaf=CertSpec(**{**LEAF.__dict__, "key": key})
    )
    chain, error, trusted = _judged(spec)
    assert not trusted
    assert error == f"certificate key is too weak: {words}"
    assert openssl_verdict(chain).first_class == "weak-key"


@pytest.mark.parametrize(("digest", "words"), [("sha1", "SHA-1"), ("md5", "MD5")])
def test_a_weak_signature_names_the_algorithm_not_a_missing_issuer(digest: str, words: str) -> None:
    spec = ChainSpec(
        root=CertSpec(key="rsa-2048"),
        intermediates=(),
        leaf=CertSpec(**{**LEAF.__dict__, "digest": digest}),
    )
    chain, error, trusted = _judged(spec)
    assert not trusted
    assert error == f"certificate is signed with {words}, which clients no longer accept"
    assert openssl_verdict(chain).first_class == "weak-signature"


def test_a_missing_intermediate_names_the_issuer_without_debug_text() -> None:
    spec = ChainSpec(
        root=CertSpec(), intermediates=(CertSpec(),), leaf=LEAF, drop_intermediate=True, tag=7
    )
    chain, error, trusted = _judged(spec)
    assert not trusted
    assert error == (
        "issuer CN=oracle 7 intermediate 1 is neither served nor a trusted CA "
        "(missing intermediate or unknown CA)"
    )
    assert openssl_verdict(chain).first_class == "unknown-issuer"


def test_an_expired_intermediate_is_named() -> None:
    spec = ChainSpec(
        root=CertSpec(), intermediates=(CertSpec(validity="expired"),), leaf=LEAF, tag=8
    )
    chain, error, trusted = _judged(spec)
    assert not trusted
    assert error is not None
    assert error.startswith("CA certificate CN=oracle 8 intermediate 1 expired at 2026-05-31")
    assert openssl_verdict(chain).first_class == "expired"
