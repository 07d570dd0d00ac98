"""`[[files]]` discovery against real files on disk: formats, chains, globs and hostile content."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.x509.oid import NameOID

from support.certs import (
    DEFAULT_NOT_BEFORE,
    HOSTILE_COMMON_NAMES,
    Issued,
    der_with_duplicate_extension,
    der_with_serial,
    key_pem,
    make_ca,
    make_fullchain,
    make_intermediate,
    make_leaf,
    many_names,
    name_with,
    pem_of,
    write_der,
    write_pem,
    write_pkcs12,
)
from ticketbridge.core.model import Endpoint, ErrorKind, Observation, Protocol, Verification
from ticketbridge.discovery.files import MAX_FILE_BYTES, FileSource, observe_files

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)
PASSWORD = b"correct horse battery staple"


def observe(*patterns: str | FileSource) -> list[Observation]:
    sources = [p if isinstance(p, FileSource) else FileSource(p) for p in patterns]
    return observe_files(sources, NOW)


def only(observations: Sequence[Observation]) -> Observation:
    assert len(observations) == 1, observations
    return observations[0]


def assert_file_error(observation: Observation, *fragments: str) -> None:
    assert observation.status == "error"
    assert observation.certificate is None
    assert observation.error is not None
    assert observation.error.kind is ErrorKind.FILE
    assert "\n" not in observation.error.message
    for fragment in fragments:
        assert fragment in observation.error.message


def fingerprints(observation: Observation) -> list[str]:
    return [facts.fingerprint_sha256 for facts in observation.chain]


def fp(issued: Issued) -> str:
    return hashlib.sha256(issued.der).hexdigest()


# --- formats and chains -------------------------------------------------------------------------


def test_fullchain_is_one_observation_with_the_key_ignored(tmp_path: Path) -> None:
    leaf, intermediate, root = make_fullchain(["app.example.com"])
    path = write_pem(tmp_path / "fullchain.pem", leaf, intermediate, root, key=leaf.key)

    observation = only(observe(str(path)))

    assert observation.ok
    assert observation.endpoint == Endpoint(
        host=str(path), port=0, address="#0", sni=None, protocol=Protocol.FILE
    )
    assert observation.endpoint.label == f"file:{path}#0"
    assert observation.observed_at == NOW
    assert fingerprints(observation) == [fp(leaf), fp(intermediate), fp(root)]
    assert observation.certificate == observation.chain[0]
    assert observation.certificate.names == ("app.example.com",)
    assert observation.effective_not_after == leaf.certificate.not_valid_after_utc
    assert observation.verification is None
    key_body = key_pem(leaf.key).splitlines()[1].decode()
    assert key_body not in repr(observation)


def test_intermediate_expiring_first_sets_the_effective_expiry(tmp_path: Path) -> None:
    early = DEFAULT_NOT_BEFORE + timedelta(days=30)
    leaf, intermediate, root = make_fullchain(intermediate_not_after=early)
    path = write_pem(tmp_path / "chain.pem", leaf, intermediate, root)

    assert only(observe(str(path))).effective_not_after == early


def test_two_chains_in_one_file_are_two_observations(tmp_path: Path) -> None:
    first = make_fullchain(["one.example.com"])
    ca = make_ca("Other Root")
    second_leaf = make_leaf(ca, names=["two.example.com"], key_slot="second")
    path = write_pem(tmp_path / "both.pem", *first, second_leaf, ca)

    observations = observe(str(path))

    assert [o.endpoint.address for o in observations] == ["#0", "#3"]
    assert [len(o.chain) for o in observations] == [3, 2]
    assert observations[1].certificate is not None
    assert observations[1].certificate.names == ("two.example.com",)


def test_ca_bundle_splits_into_one_observation_per_root(tmp_path: Path) -> None:
    roots = [make_ca(f"Bundle Root {index:03d}") for index in range(150)]
    path = write_pem(tmp_path / "ca-bundle.crt", *roots, separator=b"\n# comment between\n")

    observations = observe(str(path))

    assert len(observations) == 150
    assert [o.endpoint.address for o in observations] == [f"#{i}" for i in range(150)]
    assert all(o.ok and len(o.chain) == 1 for o in observations)
    assert [o.certificate.subject for o in observations if o.certificate] == [
        f"CN=Bundle Root {index:03d}" for index in range(150)
    ]


def test_two_roots_with_the_same_name_stay_apart(tmp_path: Path) -> None:
    old = make_ca("Same Name Root", not_after=DEFAULT_NOT_BEFORE + timedelta(days=100))
    new = make_ca("Same Name Root", not_after=DEFAULT_NOT_BEFORE + timedelta(days=5000))
    path = write_pem(tmp_path / "roots.pem", old, new)

    assert [len(o.chain) for o in observe(str(path))] == [1, 1]


def test_leaf_after_its_intermediate_still_builds_its_chain(tmp_path: Path) -> None:
    # Order does not matter (SPEC): the intermediate issues the leaf, so it belongs to the
    # leaf's chain and is not tracked on its own.
    leaf, intermediate, _root = make_fullchain()
    path = write_pem(tmp_path / "reversed.pem", intermediate, leaf)

    observation = only(observe(str(path)))

    assert observation.endpoint.address == "#1"
    assert fingerprints(observation) == [fp(leaf), fp(intermediate)]


def test_der_file(tmp_path: Path) -> None:
    leaf = make_leaf(make_ca(), names=["der.example.com"])
    path = write_der(tmp_path / "cert.crt", leaf)

    observation = only(observe(str(path)))

    assert observation.ok
    assert fingerprints(observation) == [fp(leaf)]
    assert observation.endpoint.address == "#0"


def test_pkcs12_with_the_right_password(tmp_path: Path) -> None:
    leaf, intermediate, root = make_fullchain(["p12.example.com"])
    # Stored root first: PKCS#12 has no order, the chain is rebuilt from issuer links.
    path = write_pkcs12(tmp_path / "bundle.p12", leaf, [root, intermediate], password=PASSWORD)

    observation = only(observe(FileSource(str(path), password=PASSWORD)))

    assert observation.ok
    assert fingerprints(observation) == [fp(leaf), fp(intermediate), fp(root)]


def test_pkcs12_without_a_password(tmp_path: Path) -> None:
    leaf = make_leaf(names=["open.example.com"])
    path = write_pkcs12(tmp_path / "open.pfx", leaf)

    assert only(observe(str(path))).ok


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        (b"wrong password", "wrong password"),
        (None, "no password is configured"),
    ],
)
def test_pkcs12_password_failures_are_clear_and_never_echo_it(
    tmp_path: Path, password: bytes | None, expected: str
) -> None:
    leaf = make_leaf(names=["locked.example.com"])
    path = write_pkcs12(tmp_path / "locked.p12", leaf, password=PASSWORD)
    source = FileSource(str(path), password=password)

    observation = only(observe_files([source], NOW))

    assert_file_error(observation, "PKCS#12", expected)
    assert observation.endpoint.host == str(path)
    text = repr(observation) + repr(source)
    assert PASSWORD.decode() not in text
    assert "wrong password'" not in repr(source)


# --- globs --------------------------------------------------------------------------------------


def test_recursive_glob_finds_files_sorted(tmp_path: Path) -> None:
    for relative in ["b/deep/z.pem", "a/x.pem", "top.pem"]:
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_pem(target, make_leaf(names=[f"{target.stem}.example.com"]))
    (tmp_path / "a" / "notes.txt").write_text("not matched")

    observations = observe(str(tmp_path / "**" / "*.pem"))

    assert [o.endpoint.host for o in observations] == [
        str(tmp_path / "a/x.pem"),
        str(tmp_path / "b/deep/z.pem"),
        str(tmp_path / "top.pem"),
    ]


def test_files_matched_twice_are_observed_once(tmp_path: Path) -> None:
    real = write_pem(tmp_path / "real.pem", make_leaf())
    (tmp_path / "alias.pem").symlink_to(real)

    observations = observe(str(tmp_path / "*.pem"), str(real))

    assert [o.endpoint.host for o in observations] == [str(tmp_path / "alias.pem")]


def test_glob_matching_nothing_is_a_visible_error(tmp_path: Path) -> None:
    pattern = str(tmp_path / "typo" / "*.pem")

    observation = only(observe(pattern))

    assert_file_error(observation, f"no file matches {pattern}")
    assert observation.endpoint.host == pattern


# --- files that cannot be read ------------------------------------------------------------------


def test_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "certs.pem").mkdir()

    assert_file_error(only(observe(str(tmp_path / "certs.pem"))), "not a regular file")


def test_fifo_is_an_error_and_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.pem"
    os.mkfifo(fifo)

    assert_file_error(only(observe(str(fifo))), "not a regular file")


def test_vanished_file_behind_a_dangling_symlink(tmp_path: Path) -> None:
    (tmp_path / "gone.pem").symlink_to(tmp_path / "deleted.pem")

    observation = only(observe(str(tmp_path / "*.pem")))

    assert_file_error(observation, "cannot open", "No such file")
    assert str(tmp_path / "deleted.pem") not in observation.error.message  # type: ignore[union-attr]


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.pem"
    with path.open("wb") as handle:
        handle.write(make_leaf().pem)
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no 16 MiB written to disk

    assert_file_error(only(observe(str(path))), "limit")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty file"),
        (b"  \n\t\n", "empty file"),
        (b"garbage that is neither PEM nor DER\x00\xff", "not a PEM, DER or PKCS#12"),
        (b"\x30\x82\x01\x00" + b"\x00" * 64, "not a PEM, DER or PKCS#12"),
        (b"-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n", "no CERTIFICATE block"),
    ],
    ids=["empty", "blank", "garbage", "truncated-der", "pem-without-certificate"],
)
def test_unparseable_content_is_one_error(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.crt"
    path.write_bytes(content)

    observation = only(observe(str(path)))

    assert_file_error(observation, expected)
    assert observation.endpoint.address == ""


def test_key_only_pem_is_an_error_that_never_echoes_the_key(tmp_path: Path) -> None:
    key_text = key_pem(make_leaf().key)
    path = tmp_path / "key.pem"
    path.write_bytes(key_text)

    observation = only(observe(str(path)))

    assert_file_error(observation, "no CERTIFICATE block")
    for line in key_text.decode().splitlines()[1:-1]:
        assert line not in repr(observation)


# --- hostile content ----------------------------------------------------------------------------


@pytest.mark.parametrize("common_name", HOSTILE_COMMON_NAMES)
def test_malicious_subject_is_reported_verbatim(tmp_path: Path, common_name: str) -> None:
    subject = name_with(common_name, [(NameOID.ORGANIZATION_NAME, common_name)])
    leaf = make_leaf(subject=subject, names=["hostile.example.com"])
    path = write_pem(tmp_path / "hostile.pem", leaf)

    observation = only(observe(str(path)))

    assert observation.certificate is not None
    assert observation.certificate.common_name == common_name
    assert observation.certificate.subject == leaf.certificate.subject.rfc4514_string()


def test_five_thousand_sans(tmp_path: Path) -> None:
    path = write_pem(tmp_path / "many.pem", make_leaf(names=many_names(5000)))

    observation = only(observe(str(path)))

    assert observation.certificate is not None
    assert len(observation.certificate.names) == 5000


def test_negative_serial(tmp_path: Path) -> None:
    leaf = make_leaf(names=["neg.example.com"])
    path = write_pem(tmp_path / "neg.pem", der_with_serial(leaf.certificate, leaf.key, -42))

    observation = only(observe(str(path)))

    assert observation.ok
    assert observation.certificate is not None
    assert observation.certificate.serial == "-2a"


def test_broken_blocks_are_errors_beside_the_good_certificates(tmp_path: Path) -> None:
    good_one = make_leaf(names=["one.example.com"], key_slot="one")
    good_two = make_leaf(names=["two.example.com"], key_slot="two")
    duplicate_extension = der_with_duplicate_extension(good_one.certificate, good_one.key)
    content = b"".join(
        [
            b"garbage before \x00\xff\n-----END CERTIFICATE-----\n",
            good_one.pem,
            b"\nrandom text between blocks\n",
            b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\nunterminated\n",
            pem_of(duplicate_extension),
            good_two.pem,
            b"-----BEGIN CERTIFICATE-----\ntruncated at the end",
        ]
    )
    path = tmp_path / "mixed.pem"
    path.write_bytes(content)

    observations = observe(str(path))

    by_address = {o.endpoint.address: o for o in observations}
    assert list(by_address) == ["#0", "#1", "#2", "#3", "#4", "#5", "#6", "#7"]
    assert by_address["#0"].ok and fingerprints(by_address["#0"]) == [fp(good_one)]
    assert by_address["#6"].ok and fingerprints(by_address["#6"]) == [fp(good_two)]
    assert_file_error(by_address["#1"], "not valid base64")
    assert_file_error(by_address["#2"], "unreadable certificate")
    assert_file_error(by_address["#3"], "different END line")
    assert_file_error(by_address["#4"], "without an END line")
    assert by_address["#5"].status in {"ok", "error"}  # either read around or refused, never raised
    assert_file_error(by_address["#7"], "without an END line")


def test_pathological_armour_stays_fast(tmp_path: Path) -> None:
    path = tmp_path / "begins.pem"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\n" * 200_000)

    observations = observe(str(path))

    # Counted, not decoded one by one: one error naming the count (files.py).
    assert len(observations) == 1
    assert observations[0].error is not None
    assert observations[0].error.message.startswith("200000 PEM certificate blocks, over the limit")


# --- verification -------------------------------------------------------------------------------


class RecordingVerifier:
    """Trusts chains whose root is `anchor`; remembers what it was asked."""

    def __init__(self, anchor: bytes) -> None:
        self.anchor = anchor
        self.asked: list[tuple[int, str | None, datetime]] = []

    def verdict(
        self, chain: Sequence[bytes], server_name: str | None, now: datetime
    ) -> Verification:
        self.asked.append((len(chain), server_name, now))
        return Verification(trusted=chain[-1] == self.anchor, hostname_match=True)


class BrokenVerifier:
    def verdict(
        self, chain: Sequence[bytes], server_name: str | None, now: datetime
    ) -> Verification:
        raise RuntimeError("trust store exploded")


def test_verifier_judges_each_chain_without_a_server_name(tmp_path: Path) -> None:
    leaf, intermediate, root = make_fullchain()
    stranger = make_leaf(names=["stranger.example.com"], key_slot="stranger")
    path = write_pem(tmp_path / "chain.pem", leaf, intermediate, root, stranger)
    verifier = RecordingVerifier(anchor=root.der)

    observations = observe_files([FileSource(str(path))], NOW, verifier)

    assert [o.verification for o in observations] == [
        Verification(trusted=True, hostname_match=True),
        Verification(trusted=False, hostname_match=True),
    ]
    assert verifier.asked == [(3, None, NOW), (1, None, NOW)]


def test_failing_verifier_becomes_a_verdict(tmp_path: Path) -> None:
    path = write_pem(tmp_path / "leaf.pem", make_leaf())

    observation = only(observe_files([FileSource(str(path))], NOW, BrokenVerifier()))

    assert observation.ok
    assert observation.verification is not None
    assert observation.verification.trusted is False
    assert "RuntimeError" in (observation.verification.error or "")


def test_intermediate_only_file_is_judged_as_served(tmp_path: Path) -> None:
    intermediate = make_intermediate(make_ca())
    path = write_pem(tmp_path / "intermediate.pem", intermediate)

    observation = only(observe(str(path)))

    assert observation.certificate is not None
    assert observation.certificate.is_ca
    assert observation.effective_not_after == intermediate.certificate.not_valid_after_utc


# --- labels ---------------------------------------------------------------------------------


def test_a_files_label_is_its_absolute_normalised_path_however_it_was_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "certs").mkdir()
    leaf, intermediate, root = make_fullchain(["app.example.com"])
    path = write_pem(tmp_path / "certs" / "c.pem", leaf, intermediate, root)
    monkeypatch.chdir(tmp_path)

    spellings = ["certs/c.pem", "./certs/c.pem", "certs/../certs/c.pem", str(path), "certs/*.pem"]
    labels = {only(observe(spelling)).endpoint.label for spelling in spellings}

    assert labels == {f"file:{path}#0"}


def test_a_pattern_matching_nothing_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    observation = only(observe("missing/*.pem"))

    assert observation.endpoint.label == f"file:{tmp_path}/missing/*.pem"
