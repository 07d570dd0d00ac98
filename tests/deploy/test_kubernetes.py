"""deploy/kubernetes: valid against the Kubernetes API schema, and the properties a cluster
admin checks before letting a job run (SPEC "Shards", issue 18)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ticketbridge.app.config import load_settings

KUBERNETES = Path(__file__).parents[2] / "deploy" / "kubernetes"
# Oldest release still in upstream support when written; Indexed Jobs are GA since 1.24.
VERSION = "1.30.0"
IMAGE = "registry.example.com/platform/ticketbridge:"


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(KUBERNETES)), document))
    return found


def workloads() -> list[tuple[str, dict[str, Any]]]:
    return [(name, doc) for name, doc in documents() if doc["kind"] == "CronJob"]


def pod_of(cronjob: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize(("name", "document"), documents(), ids=lambda v: str(v)[:40])
def test_valid_against_the_api_schema_with_no_unknown_field(
    name: str, document: dict[str, Any]
) -> None:
    kubernetes_validate.validate(document, VERSION, strict=True)


def test_strict_validation_refuses_a_misspelt_field() -> None:
    _, cronjob = workloads()[0]
    broken = {**cronjob, "spec": {**cronjob["spec"], "concurrencyPolcy": "Forbid"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


@pytest.mark.parametrize(("name", "cronjob"), workloads(), ids=lambda v: str(v)[:40])
def test_forbid_overlap_non_root_read_only(name: str, cronjob: dict[str, Any]) -> None:
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_of(cronjob)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["image"].startswith(IMAGE)
        # Secrets only from a Secret: no literal value for anything that looks like one.
        for variable in container.get("env", []):
            secretish = any(w in variable["name"] for w in ("TOKEN", "KEY", "WEBHOOK"))
            assert not secretish or "secretKeyRef" in variable.get("valueFrom", {}), variable


def test_the_token_comes_from_a_secret() -> None:
    for _, cronjob in workloads():
        env = {v["name"]: v for c in pod_of(cronjob)["containers"] for v in c.get("env", [])}
        if "reconcile" in pod_of(cronjob)["containers"][0]["args"]:
            reference = env["TICKETBRIDGE_JIRA__TOKEN"]["valueFrom"]["secretKeyRef"]
            assert reference == {"name": "ticketbridge", "key": "jira-token"}


def test_the_indexed_scanners_and_the_merge_agree_on_n() -> None:
    scan = next(doc for name, doc in workloads() if name == "sharded/scan-cronjob.yaml")
    job = scan["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    count = job["completions"]
    assert job["parallelism"] == count
    args = pod_of(scan)["containers"][0]["args"]
    assert f"--shard=$(JOB_COMPLETION_INDEX)/{count}" in args
    output = next(a for a in args if a.startswith("--output="))
    merge = next(doc for name, doc in workloads() if name == "sharded/reconcile-cronjob.yaml")
    merge_args = pod_of(merge)["containers"][0]["args"]
    directory = next(a for a in merge_args if a.startswith("--observations="))
    assert output.removeprefix("--output=").startswith(directory.removeprefix("--observations="))
    assert output.endswith(".jsonl")  # what `--observations DIR` reads


def test_the_config_map_holds_a_valid_configuration(tmp_path: Path) -> None:
    config = next(doc for _, doc in documents() if doc["kind"] == "ConfigMap")
    text = config["data"]["ticketbridge.toml"]
    tomllib.loads(text)
    path = tmp_path / "ticketbridge.toml"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path, environ={})
    assert settings.tickets.backend == "jira"
    assert settings.alerts.opsgenie[0].api_key_env == "OPSGENIE_API_KEY"
