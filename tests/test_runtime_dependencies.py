"""Every runtime dependency is imported under src/ (issue 14: `jira` was not, and cost every user
four more packages); the README says why each one is there."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Distribution name -> the module it is imported as, where the two differ.
MODULE = {
    "pydantic-settings": "pydantic_settings",
    "prometheus-client": "prometheus_client",
    "dnspython": "dns",
    "pyyaml": "yaml",
    "pyopenssl": "OpenSSL",
}


def runtime_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0] for spec in project["dependencies"]]


def test_every_runtime_dependency_is_imported_by_the_product() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    for name in runtime_dependencies():
        module = MODULE.get(name, name)
        assert re.search(rf"^\s*(import|from) {module}\b", sources, re.MULTILINE), name


def test_the_readme_says_why_each_runtime_dependency_is_there() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.partition("### Runtime dependencies")[2].partition("\n## ")[0]
    for name in runtime_dependencies():
        assert re.search(rf"^- `{re.escape(name)}`: \S", section, re.MULTILINE), name
