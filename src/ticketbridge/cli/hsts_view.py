"""HSTS as `scan` shows it: one short line per endpoint, marked when below the policy's minimum."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from ticketbridge.core.hsts import Hsts
from ticketbridge.core.model import Observation, TrackedCert

_DAY = 86_400


def _age(seconds: int) -> str:
    """max-age in the unit people set it in: 31536000 reads as 365d."""
    return f"{seconds // _DAY}d" if seconds >= _DAY and seconds % _DAY == 0 else f"{seconds}s"


def hsts_line(hsts: Hsts | None, minimum: int) -> Text:
    if hsts is None:
        return Text("—", style="dim")
    if hsts.error is not None and hsts.error.kind != "invalid":
        return Text(f"error: {hsts.error.kind}", style="dim red")
    status = f" ({hsts.status})" if hsts.status is not None else ""
    if not hsts.present:
        return Text(f"absent{status}", style="yellow")
    if hsts.max_age is None:
        return Text(f"invalid{status}", style="red")
    flags = "".join(
        flag
        for flag, on in ((", subdomains", hsts.include_subdomains), (", preload", hsts.preload))
        if on
    )
    text = Text(f"max-age {_age(hsts.max_age)}{flags}{status}")
    if minimum and hsts.below(minimum):
        text.append(f" below {_age(minimum)}", style="bold red")
    return text


def probed(observations: Sequence[Observation]) -> bool:
    return any(observation.hsts is not None for observation in observations)


def hsts_cell(certificate: TrackedCert, minimum: int, shown: int) -> Text:
    """One line per endpoint, in the order of the Endpoints column (and as many)."""
    lines = [hsts_line(o.hsts, minimum) for o in certificate.observations[:shown]]
    return Text("\n").join(lines)
