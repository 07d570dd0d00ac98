"""Chains made by the `openssl req` / `openssl ca` command line (PKI nobody here wrote a
generator for), each judged by us and by `openssl verify`: the verdicts must agree.

The recipes follow openssl-ca(1), openssl-req(1) and x509v3_config(5): a CA database, named
extension sections, `nameConstraints`, `authorityKeyIdentifier = keyid,issuer:always`,
`nsCertType`, pathlen, cross-signing a root's request with another root, and bundles served in
another order.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from oracle.chains import BuiltChain
from oracle.openssl import openssl_verdict
from ticketbridge.discovery.verify import TrustVerifier

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

HOST = "app.corp.test"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

CONFIG = """
[ca]
default_ca = ca_default
[ca_default]
dir = {dir}
database = $dir/{name}.index
serial = $dir/{name}.serial
new_certs_dir = $dir
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
organizationName = optional
commonName = supplied
[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
{root_extra}
[intermediate]
basicConstraints = critical, CA:TRUE{pathlen}
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = {aki}
{intermediate_extra}
[server]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = {aki}
subjectAltName = {san}
{server_extra}
"""


@dataclass(frozen=True)
class Recipe:
    root_extra: str = ""
    intermediate_extra: str = ""
    server_extra: str = "extendedKeyUsage = serverAuth"
    san: str = f"DNS:{HOST}"
    aki: str = "keyid"
    pathlen: str = ""
    second_intermediate: bool = False
    leaf_key: tuple[str, ...] = tuple(EC_KEY)
    cross_signed_root: bool = False  # serve the root cross-signed by an old root, trust the old
    reversed_bundle: bool = False
    expected: str | None = None  # the failure class both verdicts must give (None: trusted)


RECIPES = {
    "plain": Recipe(),
    "leading-dot-permits-subdomains": Recipe(
        root_extra="nameConstraints = critical, permitted;DNS:.corp.test"
    ),
    "leading-dot-excludes-the-apex": Recipe(
        root_extra="nameConstraints = critical, permitted;DNS:.corp.test",
        san=f"DNS:{HOST}, DNS:corp.test",
        expected="name-constraints",
    ),
    "excluded-on-intermediate": Recipe(
        intermediate_extra=f"nameConstraints = excluded;DNS:{HOST}", expected="name-constraints"
    ),
    "ip-constraint-ipv6-san": Recipe(
        intermediate_extra="nameConstraints = critical, permitted;IP:127.0.0.0/255.0.0.0",
        san=f"DNS:{HOST}, IP:::1",
        expected="name-constraints",
    ),
    "directory-name-permitted": Recipe(
        root_extra="nameConstraints = critical, permitted;dirName:corp_dn\n[corp_dn]\nO = Corp"
    ),
    "directory-name-other": Recipe(
        root_extra="nameConstraints = critical, permitted;dirName:other_dn\n[other_dn]\nO = Other",
        expected="name-constraints",
    ),
    "aki-issuer-and-serial": Recipe(aki="keyid:always, issuer:always"),
    "ns-cert-type-client": Recipe(server_extra="nsCertType = client", expected="purpose"),
    "ns-cert-type-server": Recipe(server_extra="nsCertType = server"),
    "rsa-1024-leaf": Recipe(leaf_key=("-newkey", "rsa:1024", "-nodes"), expected="weak-key"),
    "pathlen-zero-with-two-intermediates": Recipe(
        pathlen=", pathlen:0", second_intermediate=True, expected="path-length"
    ),
    "cross-signed-root": Recipe(cross_signed_root=True),
    "bundle-reversed": Recipe(second_intermediate=True, reversed_bundle=True),
}


class CommandLinePKI:
    def __init__(self, directory: Path, recipe: Recipe) -> None:
        self.directory, self.recipe = directory, recipe

    def openssl(self, *arguments: str) -> None:
        subprocess.run(["openssl", *arguments], cwd=self.directory, check=True, capture_output=True)

    def config(self, name: str) -> str:
        path = self.directory / f"{name}.cnf"
        (self.directory / f"{name}.index").touch()
        (self.directory / f"{name}.serial").write_text("1000\n")
        recipe = self.recipe
        path.write_text(CONFIG.format(
            dir=self.directory, name=name, root_extra=recipe.root_extra,
            intermediate_extra=recipe.intermediate_extra, server_extra=recipe.server_extra,
            san=recipe.san, aki=recipe.aki, pathlen=recipe.pathlen,
        ))  # fmt: skip
        return str(path)

    def root(self, name: str, subject: str) -> None:
        self.openssl("req", "-x509", "-config", self.config(name), "-extensions", "root",
                     *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem",
                     "-subj", subject, "-days", "3650")  # fmt: skip

    def issue(
        self, issuer: str, name: str, subject: str, profile: str, key: tuple[str, ...]
    ) -> None:
        self.openssl("req", "-new", "-config", self.config(name), *key,
                     "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)  # fmt: skip
        self.openssl("ca", "-batch", "-config", self.config(issuer), "-cert", f"{issuer}.pem",
                     "-keyfile", f"{issuer}.key", "-extensions", profile, "-days", "90",
                     "-in", f"{name}.csr", "-out", f"{name}.pem", "-notext")  # fmt: skip

    def load(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.directory / f"{name}.pem").read_bytes())

    def build(self) -> BuiltChain:
        recipe = self.recipe
        self.root("root", "/O=Corp/CN=Corp Root")
        self.issue("root", "int1", "/O=Corp/CN=Corp Issuing 1", "intermediate", tuple(EC_KEY))
        issuer, cas = "int1", ["int1"]
        if recipe.second_intermediate:
            self.issue("int1", "int2", "/O=Corp/CN=Corp Issuing 2", "intermediate", tuple(EC_KEY))
            issuer, cas = "int2", ["int2", "int1"]
        self.issue(issuer, "leaf", f"/O=Corp/CN={HOST}", "server", recipe.leaf_key)
        served = [self.load("leaf"), *(self.load(ca) for ca in cas)]
        anchors = [self.load("root")]
        if recipe.cross_signed_root:
            self.root("old", "/O=Old/CN=Old Root")
            # The root's own key and name, in a request signed by the old root.
            self.openssl("req", "-new", "-config", self.config("root"), "-key", "root.key",
                         "-out", "cross.csr", "-subj", "/O=Corp/CN=Corp Root")  # fmt: skip
            self.issue_request("old", "cross")
            served.append(self.load("cross"))
            anchors = [self.load("old")]
        if recipe.reversed_bundle:
            served = [served[0], *reversed(served[1:])]
        now = datetime.now(UTC).replace(microsecond=0)
        return BuiltChain(None, tuple(served), tuple(anchors), HOST, now)  # type: ignore[arg-type]

    def issue_request(self, issuer: str, name: str) -> None:
        self.openssl("ca", "-batch", "-config", self.config(issuer), "-cert", f"{issuer}.pem",
                     "-keyfile", f"{issuer}.key", "-extensions", "intermediate", "-days", "90",
                     "-in", f"{name}.csr", "-out", f"{name}.pem", "-notext")  # fmt: skip


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_chains_made_by_the_openssl_command_line_get_openssls_verdict(
    recipe: str, tmp_path: Path
) -> None:
    chain = CommandLinePKI(tmp_path, RECIPES[recipe]).build()
    served = [c.public_bytes(Encoding.DER) for c in chain.served]
    verifier = TrustVerifier(chain.anchors)
    failure = verifier.trust_failure(served, chain.now)
    verdict = verifier.verdict(served, chain.host, chain.now)
    theirs = openssl_verdict(chain)
    ours = None if failure is None else str(failure.kind)
    assert (verdict.trusted, ours) == (theirs.trusted, theirs.first_class), (
        verdict.error,
        theirs.errors,
    )
    assert verdict.hostname_match == theirs.hostname_match
    assert ours == RECIPES[recipe].expected, verdict.error
