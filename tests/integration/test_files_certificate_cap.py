"""A `[[files]]` input holding more certificates than MAX_CERTIFICATES_PER_FILE is one clear
error, not minutes of verdicts (issue 15: "[[files]] inputs need a size cap too")."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.certs import make_ca, make_leaf
from ticketbridge.core.model import ErrorKind
from ticketbridge.discovery.files import MAX_CERTIFICATES_PER_FILE, FileSource, observe_files
from ticketbridge.discovery.verify import TrustVerifier

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize(
    ("count", "refused"),
    [(MAX_CERTIFICATES_PER_FILE, False), (MAX_CERTIFICATES_PER_FILE + 1, True)],
)
def test_a_bundle_over_the_certificate_cap_is_refused_in_one_line(
    tmp_path: Path, count: int, refused: bool
) -> None:
    root = make_ca("Cap Root")
    leaf = make_leaf(root, names=("cap.example.com",))
    path = tmp_path / "bundle.pem"
    path.write_bytes(leaf.pem * count)

    observations = observe_files([FileSource(str(path))], NOW, TrustVerifier([root.certificate]))

    if refused:
        assert len(observations) == 1
        error = observations[0].error
        assert error is not None and error.kind is ErrorKind.FILE
        assert error.message == (
            f"{count} PEM certificate blocks, over the limit of {MAX_CERTIFICATES_PER_FILE}"
        )
    else:
        # Read and judged, not refused: the copies of one leaf are one observation since a
        # bundle builds each leaf's path from the whole file (issue 15).
        assert observations and all(o.status == "ok" for o in observations)


def test_a_flood_of_unterminated_begin_lines_is_one_error(tmp_path: Path) -> None:
    """200,000 `BEGIN CERTIFICATE` lines with no END: one observation naming the count, not
    one error observation per block."""
    path = tmp_path / "flood.pem"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n" * 200_000)

    observations = observe_files([FileSource(str(path))], NOW, None)

    assert len(observations) == 1
    error = observations[0].error
    assert error is not None and error.kind is ErrorKind.FILE
    assert error.message == (
        f"200000 PEM certificate blocks, over the limit of {MAX_CERTIFICATES_PER_FILE}"
    )


def test_a_few_unterminated_blocks_are_still_reported_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "broken.pem"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n" * 3)

    observations = observe_files([FileSource(str(path))], NOW, None)

    assert [o.error.message for o in observations if o.error] == [
        "PEM CERTIFICATE block without an END line"
    ] * 3
