"""`--output FILE` appears whole or not at all: a merge reading shards' files never sees half of one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticketbridge.cli.output import output_to


def test_the_previous_file_stays_whole_until_the_new_one_is_complete(tmp_path: Path) -> None:
    target = tmp_path / "shard-0.jsonl"
    target.write_text("previous\n")
    with output_to(target) as handle:
        handle.write("new line 1\n")
        handle.flush()
        assert target.read_text() == "previous\n"  # a reader now still gets the old file
        assert list(tmp_path.glob("*.jsonl")) == [target]  # the partial matches no glob
    assert target.read_text() == "new line 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-0.jsonl"]


def test_a_write_that_fails_leaves_the_previous_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "shard-0.jsonl"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError), output_to(target) as handle:
        handle.write("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-0.jsonl"]


def test_a_device_is_written_in_place(tmp_path: Path) -> None:
    with output_to(Path("/dev/null")) as handle:
        handle.write("discarded")
    assert Path("/dev/null").exists() and not Path("/dev/.null.partial").exists()
