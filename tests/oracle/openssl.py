"""What `openssl verify` says about a chain: the oracle our verdicts are compared with.

The command is the one OpenSSL's own TLS clients amount to (openssl-verify(1), openssl-
verification-options(1)): `-auth_level 2` (Debian's default security level), `-purpose sslserver`,
`-verify_hostname`, `-attime` for the moment judged. The `verify` app keeps going after some
errors and prints each one as `error N at D depth lookup: text` (apps/verify.c cb()), so the
first error printed is the first one OpenSSL found.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from oracle.chains import BuiltChain

# X509_V_ERR_* codes (include/openssl/x509_vfy.h) grouped into the failure classes our verifier
# reports (ticketbridge.discovery.chaincheck.Failure).
CLASSES = {
    2: "unknown-issuer",  # UNABLE_TO_GET_ISSUER_CERT
    18: "unknown-issuer",  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: "unknown-issuer",  # SELF_SIGNED_CERT_IN_CHAIN
    20: "unknown-issuer",  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "unknown-issuer",  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    6: "signature",  # UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY
    7: "signature",  # CERT_SIGNATURE_FAILURE
    9: "not-yet-valid",  # CERT_NOT_YET_VALID
    10: "expired",  # CERT_HAS_EXPIRED
    22: "chain-too-long",  # CERT_CHAIN_TOO_LONG
    24: "not-a-ca",  # INVALID_CA (1.1)
    79: "not-a-ca",  # INVALID_CA (3.0)
    32: "not-a-ca",  # KEYUSAGE_NO_CERTSIGN
    25: "path-length",  # PATH_LENGTH_EXCEEDED
    26: "purpose",  # INVALID_PURPOSE
    34: "critical-extension",  # UNHANDLED_CRITICAL_EXTENSION
    47: "name-constraints",  # PERMITTED_VIOLATION
    48: "name-constraints",  # EXCLUDED_VIOLATION
    49: "name-constraints",  # SUBTREE_MINMAX
    51: "name-constraints",  # UNSUPPORTED_CONSTRAINT_TYPE
    52: "name-constraints",  # UNSUPPORTED_CONSTRAINT_SYNTAX
    53: "name-constraints",  # UNSUPPORTED_NAME_SYNTAX
    # UNSPECIFIED: in path validation only v3_ncons.c NAME_CONSTRAINTS_check() returns it, when
    # names x constraints exceed NAME_CHECK_MAX (its guard against denial of service).
    1: "name-constraints",
    62: "hostname",  # HOSTNAME_MISMATCH
    64: "hostname",  # IP_ADDRESS_MISMATCH
    66: "weak-key",  # EE_KEY_TOO_SMALL
    67: "weak-key",  # CA_KEY_TOO_SMALL
    68: "weak-signature",  # CA_MD_TOO_WEAK
}
_NAME_ERRORS = (62, 64)
_ERROR = re.compile(r"^error (\d+) at (\d+) depth lookup: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class OracleVerdict:
    errors: tuple[tuple[int, str], ...]  # (code, text), in the order OpenSSL found them
    hostname_match: bool | None  # None: OpenSSL stopped before it checked the name

    @property
    def trusted(self) -> bool:
        return not [code for code, _ in self.errors if code not in _NAME_ERRORS]

    @property
    def first_class(self) -> str | None:
        for code, text in self.errors:
            if code not in _NAME_ERRORS:
                return CLASSES.get(code, f"unmapped {code}: {text}")
        return None


def _pem(certificates: object) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)  # type: ignore[attr-defined]


def _run(directory: Path, chain: BuiltChain, hostname: bool) -> tuple[bool, list[tuple[int, str]]]:
    command = [
        "openssl",
        "verify",
        "-auth_level",
        "2",
        "-purpose",
        "sslserver",
        "-attime",
        str(int(chain.now.timestamp())),
        "-CAfile",
        str(directory / "anchors.pem"),
    ]
    if hostname:
        command += ["-verify_ip" if _is_ip(chain.host) else "-verify_hostname", chain.host]
    if len(chain.served) > 1:
        command += ["-untrusted", str(directory / "untrusted.pem")]
    command.append(str(directory / "leaf.pem"))
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    errors = [
        (int(m.group(1)), f"{m.group(3)} (depth {m.group(2)})")
        for m in _ERROR.finditer(result.stderr)
    ]
    ok = result.returncode == 0 and not errors
    if not ok and not errors:
        raise AssertionError(f"openssl verify failed without an error line: {result.stderr}")
    return ok, errors


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _check_host(directory: Path, host: str) -> bool:
    # openssl-x509(1) -checkhost / -checkip: X509_check_host() / X509_check_ip_asc() with the
    # same default flags as verify.
    option = "-checkip" if _is_ip(host) else "-checkhost"
    result = subprocess.run(
        ["openssl", "x509", "-noout", "-in", str(directory / "leaf.pem"), option, host],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return "does match" in result.stdout


def openssl_verdict(chain: BuiltChain) -> OracleVerdict:
    with tempfile.TemporaryDirectory(prefix="tb-oracle-") as name:
        directory = Path(name)
        (directory / "anchors.pem").write_bytes(_pem(chain.anchors))
        (directory / "leaf.pem").write_bytes(_pem(chain.served[:1]))
        (directory / "untrusted.pem").write_bytes(_pem(chain.served[1:]))
        ok, errors = _run(directory, chain, hostname=True)
        if ok:
            return OracleVerdict((), True)
        if any(code in _NAME_ERRORS for code, _ in errors):
            # HOSTNAME_MISMATCH stops verification: ask again without a name for the trust verdict.
            _, trust_errors = _run(directory, chain, hostname=False)
            return OracleVerdict((*trust_errors, (62, "hostname mismatch")), False)
        return OracleVerdict(tuple(errors), _check_host(directory, chain.host))


def openssl_verdicts(chains: list[BuiltChain], workers: int = 4) -> list[OracleVerdict]:
    """Several openssl processes at once: the work is process start-up, not CPU in Python."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(openssl_verdict, chains))
