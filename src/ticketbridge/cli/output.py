"""What commands write: JSON and JSONL documents, rich tables, the --output file, the progress bar."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ticketbridge.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from ticketbridge.app.gather import ScanResult
    from ticketbridge.core.apply import ActionResult


class ScanFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr, only when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
        transient=True,
    )
    task = bar.add_task("probe", total=None)

    def update(completed: int, total: int) -> None:
        bar.update(task, completed=completed, total=total)

    with bar:
        yield update


@contextlib.contextmanager
def write_progress(enabled: bool) -> Iterator[Callable[[ActionResult], None] | None]:
    """How a long reconcile shows its writes: a counter on a terminal; otherwise (a scheduled
    job's stderr, a journal) one log line per write, without `--debug`."""
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        import logging

        writes = logging.getLogger("ticketbridge.writes")
        writes.setLevel(logging.INFO)

        def log_line(result: ActionResult) -> None:
            if result.action.writes:
                writes.info("%s", _write_line(result))

        yield log_line
        return
    from rich.progress import MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("writing"),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=stderr(),
        transient=True,
    )
    task = bar.add_task("", total=None)

    def advance(result: ActionResult) -> None:
        bar.update(task, advance=1, description=_write_line(result))

    with bar:
        yield advance


def _write_line(result: ActionResult) -> str:
    from ticketbridge.infra.escape import inert

    action = result.action
    ticket = result.ticket or action.ticket or "(new)"
    verdict = "failed" if result.error else "done" if result.applied else "not written"
    return inert(f"{action.kind} {ticket} {action.certificate.id}: {verdict}", 200)


@contextlib.contextmanager
def output_to(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    # Written beside the target and renamed into place once complete: a reader (a merge of
    # shards' observations, a collector) never sees half a file, and a run that dies leaves
    # the previous file whole. The temporary name does not match `*.jsonl`.
    if path.exists() and not path.is_file():  # /dev/stdout, a FIFO: written in place
        try:
            direct = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--output {path}: {exc.strerror or exc}") from None
        with direct:
            yield direct
        return
    partial = path.with_name(f".{path.name}.partial")
    try:
        handle = partial.open("w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output {path}: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_scan(
    result: ScanResult,
    output_format: ScanFormat,
    handle: TextIO,
    now_text: str,
    hsts_min_max_age: int = 0,
) -> None:
    from ticketbridge.core.shapes import (
        certificate_to_json,
        dumps_line,
        observation_json_text,
        observation_to_json,
        observations_jsonl,
    )

    if output_format is ScanFormat.jsonl:
        handle.writelines(observations_jsonl(result.observations))
        return
    if output_format is ScanFormat.json:
        # Streamed one observation at a time: the whole document as Python objects would cost
        # several KiB per endpoint, most of the memory of a scan of tens of thousands.
        handle.write(f'{{\n  "generated_at": {json.dumps(now_text)},\n  "observations": [')
        for index, observation in enumerate(result.observations):
            handle.write(",\n    " if index else "\n    ")
            if hsts_min_max_age and observation.hsts is not None:
                # `[policy] hsts_min_max_age` marks the endpoint; jsonl stays SPEC's shape.
                document = observation_to_json(observation)
                document["hsts"]["below_min_max_age"] = observation.hsts.below(hsts_min_max_age)
                handle.write(dumps_line(document))
            else:
                handle.write(observation_json_text(observation))
        handle.write('\n  ],\n  "certificates": [')
        for index, certificate in enumerate(result.inventory.certificates):
            handle.write(",\n    " if index else "\n    ")
            handle.write(json.dumps(certificate_to_json(certificate), ensure_ascii=False))
        handle.write("\n  ]")
        _write_sources(result, handle)
        handle.write("\n}\n")
        return
    raise AssertionError(output_format)


def _write_sources(result: ScanResult, handle: TextIO) -> None:
    """`sources` (endpoints per source) and `ct` (issued versus served), when configured."""
    if not result.sources and result.ct is None:
        return
    from ticketbridge.app.source_report import ct_to_json, sources_to_json

    handle.write(
        f',\n  "sources": {json.dumps(sources_to_json(result.sources), ensure_ascii=False)}'
    )
    if result.ct is not None:
        handle.write(f',\n  "ct": {json.dumps(ct_to_json(result.ct), ensure_ascii=False)}')


def emit(renderable: RenderableType) -> None:
    """A table on a terminal at its width; in a pipe, at the width of its content."""
    from ticketbridge.cli.layout import print_fitted

    print_fitted(renderable)


def json_out(document: object) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
