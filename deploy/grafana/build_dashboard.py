"""The ticketbridge Grafana dashboard, built with Grafana's own types (grafana-foundation-sdk).

Regenerate the committed JSON after a change:
    .venv/bin/python deploy/grafana/build_dashboard.py > deploy/grafana/ticketbridge-dashboard.json
tests/deploy/test_grafana_dashboard.py fails when the two differ, or when a query names a metric
that ticketbridge does not write.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.table import Panel as Table
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder


def query(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False) -> Dataquery:
    built = Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref)
    return built.instant() if instant else built


def dashboard() -> Any:
    """The dashboard as Grafana's model objects."""
    return (
        Dashboard("TLS certificates (ticketbridge)")
        .uid("ticketbridge-certificates")
        .tags(["tls", "ticketbridge"])
        .refresh("5m")
        .time("now-7d", "now")
        .with_row(Row("What expires"))
        .with_panel(
            Table()
            .title("Certificates by days left")
            .description("Effective expiry: the earliest over every endpoint serving it.")
            .unit("d")
            .height(10)
            .span(16)
            .with_target(
                query("sort(ticketbridge_certificate_days_left)", "{{name}} ({{id}})", instant=True)
            )
        )
        .with_panel(
            Stat()
            .title("Expiring within 14 days")
            .height(5)
            .span(8)
            .with_target(query("count(ticketbridge_certificate_days_left < 14) or vector(0)"))
        )
        .with_panel(
            Stat()
            .title("Renewals live on only some endpoints")
            .height(5)
            .span(8)
            .with_target(
                query("count(ticketbridge_certificate_expiry_spread_seconds > 86400) or vector(0)")
            )
        )
        .with_panel(
            Table()
            .title("Soonest endpoints")
            .unit("d")
            .height(10)
            .span(12)
            .with_target(
                query(
                    "bottomk(50, ticketbridge_endpoint_days_left)",
                    "{{endpoint}}",
                    instant=True,
                )
            )
        )
        .with_panel(
            Table()
            .title("Certificates failing verification")
            .height(10)
            .span(12)
            .with_target(query("ticketbridge_certificate_verified == 0", "{{id}}", instant=True))
        )
        .with_row(Row("The job"))
        .with_panel(
            Stat()
            .title("Since the last successful run")
            .unit("s")
            .height(5)
            .span(6)
            .with_target(query("time() - ticketbridge_last_success_timestamp_seconds"))
        )
        .with_panel(
            Timeseries()
            .title("Run duration")
            .unit("s")
            .height(8)
            .span(9)
            .with_target(query("ticketbridge_run_duration_seconds", "duration"))
        )
        .with_panel(
            Timeseries()
            .title("Writes and failures per run")
            .height(8)
            .span(9)
            .with_target(query("ticketbridge_apply_writes", "writes"))
            .with_target(query("ticketbridge_apply_failures", "failed writes", ref="B"))
            .with_target(
                query("sum by (kind) (ticketbridge_probe_failures)", "probe {{kind}}", ref="C")
            )
        )
    )


def dashboard_json() -> str:
    return json.dumps(dashboard().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dashboard_json())
