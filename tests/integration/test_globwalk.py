"""`[[files]]` globs on real directory trees: the same matches as the standard library's glob
where it terminates (the oracle), and a bounded, reported walk where it does not."""

from __future__ import annotations

import glob
import json
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.certs import make_leaf, write_pem
from support.cli import run_cli
from ticketbridge.discovery.files import FileSource, observe_files
from ticketbridge.discovery.globwalk import bounded_glob

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)
PATTERNS = (
    "**",
    "**/*.pem",
    "*/*.pem",
    "a/**/*.pem",
    "**/b/*",
    "*",
    "a/**",
    "**/.h/*.pem",
    ".h/**/*.pem",
    "a/b/y.pem",
    "**/*",
    "a/*/**/z.crt",
    "[ab]/?.pem",
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random loop-free tree with hidden names, spaces and a symlink to a directory."""
    root = tmp_path_factory.mktemp("tree")
    chooser = random.Random(10)
    for _ in range(80):
        parts = [chooser.choice(["a", "b", ".h", "c d", "x"]) for _ in range(chooser.randint(0, 4))]
        directory = root.joinpath(*parts)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / chooser.choice(["k.pem", ".hid.pem", "z.crt", "y.pem"])).touch()
    (root / "link").symlink_to(root / "a", target_is_directory=True)
    return root


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_same_matches_as_the_standard_glob_on_a_tree_without_loops(
    tree: Path, pattern: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = f"{tree}/{pattern}"
    assert bounded_glob(absolute).paths == sorted(glob.glob(absolute, recursive=True))
    monkeypatch.chdir(tree)
    relative = bounded_glob(pattern)
    assert relative.paths == sorted(glob.glob(pattern, recursive=True))
    assert relative.problems == []


def _looping_tree(tmp_path: Path) -> Path:
    """The issue's reproduction: two directory symlinks to `.` (and one to `..`)."""
    certs = tmp_path / "dir"
    (certs / "sub").mkdir(parents=True)
    write_pem(certs / "sub" / "leaf.pem", make_leaf(names=("files.example.com",)))
    os.symlink(".", certs / "l1")
    os.symlink(".", certs / "l2")
    os.symlink("..", certs / "sub" / "up")
    return certs


def test_scan_over_symlink_loops_finishes(tmp_path: Path) -> None:
    certs = _looping_tree(tmp_path)
    config = tmp_path / "ticketbridge.toml"
    config.write_text('[[files]]\npath = "dir/**/*.pem"\n', encoding="utf-8")
    # In a subprocess with a deadline: the standard glob never returned here.
    result = run_cli("--config", str(config), "scan", "--format", "json", timeout=30)
    assert result.returncode == 0, result.stderr
    observations = json.loads(result.stdout)["observations"]
    assert [o["endpoint"]["host"] for o in observations if o["status"] == "ok"] == [
        f"{certs}/sub/leaf.pem"
    ]


def test_two_links_to_dot_finish_quickly_and_are_reported(tmp_path: Path) -> None:
    certs = _looping_tree(tmp_path)
    started = time.monotonic()
    observations = observe_files([FileSource(f"{certs}/**/*.pem")], NOW)
    assert time.monotonic() - started < 10
    ok = [o for o in observations if o.ok]
    assert [o.endpoint.host for o in ok] == [f"{certs}/sub/leaf.pem"]
    (report,) = [o for o in observations if not o.ok]
    assert report.error is not None
    assert "3 directory symlink loop(s) not followed" in report.error.message


def test_depth_and_match_caps_stop_the_walk_and_say_so(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * 6)
    deep.mkdir(parents=True)
    (deep / "far.pem").touch()
    for index in range(5):
        (tmp_path / f"{index}.pem").touch()
    too_deep = bounded_glob(f"{tmp_path}/**/*.pem", max_depth=3)
    assert f"{deep}/far.pem" not in too_deep.paths
    assert any("deeper than 3 directories" in problem for problem in too_deep.problems)
    too_many = bounded_glob(f"{tmp_path}/*.pem", max_matches=2)
    assert len(too_many.paths) == 2
    assert too_many.problems == ["more than 2 files match: stopped there"]
