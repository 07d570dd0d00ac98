"""deploy/grafana: the committed dashboard is what Grafana's SDK builds, and queries real metrics."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from support.written_metrics import metric_names_in, written_metric_names

GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dashboard", GRAFANA / "build_dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_json_is_what_the_builder_makes() -> None:
    committed = (GRAFANA / "ticketbridge-dashboard.json").read_text(encoding="utf-8")
    assert builder().dashboard_json() == committed, "regenerate: see build_dashboard.py"


def test_every_query_names_only_metrics_that_exist() -> None:
    document = json.loads((GRAFANA / "ticketbridge-dashboard.json").read_text(encoding="utf-8"))
    expressions = [
        target["expr"] for panel in document["panels"] for target in panel.get("targets", [])
    ]
    assert len(expressions) >= 8
    for expression in expressions:
        named = metric_names_in(expression)
        assert named, expression
        assert named <= written_metric_names(), (
            f"{expression}: unknown {named - written_metric_names()}"
        )


def test_refids_are_unique_within_each_panel() -> None:
    document = json.loads((GRAFANA / "ticketbridge-dashboard.json").read_text(encoding="utf-8"))
    for panel in document["panels"]:
        refs = [target["refId"] for target in panel.get("targets", [])]
        assert len(refs) == len(set(refs)) and all(refs), panel["title"]
