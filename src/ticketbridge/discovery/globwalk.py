"""A bounded `glob` for `[[files]]` patterns: `**` never follows a directory symlink back into
its own ancestry, and depth, directories listed and matches are capped, each cap reported."""

# Strings, not Path: the matches must be exactly glob's (a trailing separator on the starting
# directory, no normalisation), and Path would rewrite them.
# ruff: noqa: PTH112, PTH116, PTH118, PTH206

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass, field

# Python's glob follows directory symlinks under `**`: two links to `.` make the matches
# exponential in the depth and the run never ends (issue 10). These caps are far above any
# certificate tree (/etc/ssl is 3 levels and a few hundred files) and far below a runaway walk.
MAX_DEPTH = 32
MAX_DIRECTORIES = 100_000
MAX_MATCHES = 10_000

_MAGIC = re.compile(r"[*?[]")


@dataclass(slots=True)
class GlobResult:
    """The paths a pattern matched (sorted, each once) and what the walk refused to do."""

    paths: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Walk:
    max_depth: int
    max_directories: int
    max_matches: int
    found: set[str] = field(default_factory=set)
    loops: list[str] = field(default_factory=list)
    too_deep: list[str] = field(default_factory=list)
    directories: int = 0
    stopped: str | None = None

    def match(self, path: str) -> None:
        if len(self.found) >= self.max_matches:
            self.stopped = f"more than {self.max_matches} files match: stopped there"
            return
        self.found.add(path)

    def listing(self, path: str) -> list[os.DirEntry[str]]:
        if self.directories >= self.max_directories:
            self.stopped = f"more than {self.max_directories} directories walked: stopped there"
            return []
        self.directories += 1
        try:
            with os.scandir(path or ".") as entries:
                return sorted(entries, key=lambda entry: entry.name)
        except OSError:
            return []  # unreadable or vanished: glob ignores these too


def bounded_glob(
    pattern: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_directories: int = MAX_DIRECTORIES,
    max_matches: int = MAX_MATCHES,
) -> GlobResult:
    """What `glob.glob(pattern, recursive=True)` matches, within bounds: hidden names match
    only a pattern that starts with a dot, and `**` matches zero or more directories."""
    walk = _Walk(max_depth, max_directories, max_matches)
    base, parts = _split(pattern)
    if not parts:
        if os.path.lexists(base):
            walk.match(base)
    else:
        _run(walk, base, parts)
    return GlobResult(paths=sorted(walk.found), problems=_problems(walk))


def _split(pattern: str) -> tuple[str, list[str]]:
    """The literal leading directory, and the components from the first wildcard on."""
    components = pattern.split(os.sep)
    for index, component in enumerate(components):
        if _MAGIC.search(component):
            base = os.sep.join(components[:index])
            if not base and pattern.startswith(os.sep):
                base = os.sep
            return base, [part for part in components[index:] if part]
    return pattern, []


# (directory, index of the next pattern component, directory ids above it, `**` depth)
_State = tuple[str, int, frozenset[tuple[int, int]], int]


def _run(walk: _Walk, base: str, parts: list[str]) -> None:
    stack: list[_State] = [(base, 0, frozenset(), 0)]
    while stack and walk.stopped is None:
        path, index, ancestry, depth = stack.pop()
        if index == len(parts):
            walk.match(path)
            continue
        part = parts[index]
        last = index == len(parts) - 1
        if part == "**":
            stack.extend(_double_star(walk, path, index, ancestry, depth, last))
        elif _MAGIC.search(part):
            for entry in walk.listing(path):
                if not _visible(entry.name, part) or not fnmatch.fnmatchcase(entry.name, part):
                    continue
                if last:
                    walk.match(os.path.join(path, entry.name))
                elif _is_dir(entry):
                    stack.append((os.path.join(path, entry.name), index + 1, ancestry, depth))
        else:
            joined = os.path.join(path, part)
            if last:
                if os.path.lexists(joined):
                    walk.match(joined)
            elif os.path.isdir(joined):
                stack.append((joined, index + 1, ancestry, depth))


def _double_star(
    walk: _Walk,
    path: str,
    index: int,
    ancestry: frozenset[tuple[int, int]],
    depth: int,
    last: bool,
) -> list[_State]:
    """`**` here: zero directories (go on with the next component), or one more level."""
    here = _identity(path or ".")
    if here is None:
        return []
    ancestry = ancestry | {here}
    following: list[_State] = [(path, index + 1, ancestry, depth)] if not last else []
    if last and path:
        # glob names the directory `**` starts from with a trailing separator, the rest without.
        walk.match(path if depth or path.endswith(os.sep) else path + os.sep)
    if depth >= walk.max_depth:
        walk.too_deep.append(path)
        return following
    for entry in walk.listing(path):
        if entry.name.startswith("."):
            continue  # `**` never matches hidden names, as in glob
        child = os.path.join(path, entry.name)
        if not _is_dir(entry):
            if last:
                walk.match(child)
            continue
        identity = _identity(child)
        if identity is None:
            continue
        if identity in ancestry:
            walk.loops.append(child)  # a link back to a directory we are inside
            continue
        following.append((child, index, ancestry, depth + 1))
    return following


def _visible(name: str, part: str) -> bool:
    return not name.startswith(".") or part.startswith(".")


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks, as glob does; loops are caught by identity
    except OSError:
        return False


def _identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISDIR(status.st_mode) else None


def _problems(walk: _Walk) -> list[str]:
    problems = []
    if walk.loops:
        problems.append(
            f"{len(walk.loops)} directory symlink loop(s) not followed, e.g. {walk.loops[0]}"
        )
    if walk.too_deep:
        problems.append(
            f"deeper than {walk.max_depth} directories not searched, e.g. under {walk.too_deep[0]}"
        )
    if walk.stopped is not None:
        problems.append(walk.stopped)
    return problems
