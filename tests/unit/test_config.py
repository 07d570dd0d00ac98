"""Configuration: every key documented in config.example.toml, env overrides, one-line errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from ticketbridge.app.config import Settings, load_settings
from ticketbridge.app.config_path import resolve_config_path
from ticketbridge.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def _documented_keys(model: type[BaseModel]) -> list[str]:
    fields = getattr(model, "model_fields", None) or model.__pydantic_fields__
    return list(fields)


def test_the_example_config_is_valid_and_documents_every_key() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.endpoints and settings.files and settings.certificates
    text = EXAMPLE.read_text(encoding="utf-8")
    sections = {
        "discovery": "[discovery]",
        "endpoints": "[[endpoints]]",
        "files": "[[files]]",
        "policy": "[policy]",
        "tickets": "[tickets]",
        "jira": "[jira]",
        "certificates": "[[certificates]]",
        "audit": "[audit]",
        "run": "[run]",
        "exceptions": "[[exceptions]]",
    }
    for field_name, header in sections.items():
        assert header in text, header
        annotation: Any = Settings.model_fields[field_name].annotation
        model: type[BaseModel] = getattr(annotation, "__args__", (annotation,))[0]
        for key in _documented_keys(model):
            assert re.search(rf"^\s*#?\s*{key} = .*#", text, re.MULTILINE), (
                f"{field_name}.{key} undocumented"
            )


def test_environment_overrides_the_file_key_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[discovery]\nconcurrency = 8\nconnect_timeout = 2.5\n[jira]\nproject = "OPS"\n'
    )
    monkeypatch.setenv("TICKETBRIDGE_DISCOVERY__CONCURRENCY", "99")
    monkeypatch.setenv("TICKETBRIDGE_JIRA__TOKEN", "s3cret")
    settings = load_settings(path)
    assert settings.discovery.concurrency == 99
    assert settings.discovery.connect_timeout == 2.5
    assert settings.jira.project == "OPS"
    assert settings.jira.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[policy]\nlead_dayz = 3\n")
    with pytest.raises(ConfigError, match=r"c\.toml: policy\.lead_dayz: unknown key$"):
        load_settings(path)


def test_config_path_resolution_order(tmp_path: Path) -> None:
    assert resolve_config_path(tmp_path / "a.toml", {"TICKETBRIDGE_CONFIG": "b.toml"}) == (
        tmp_path / "a.toml",
        True,
    )
    assert resolve_config_path(None, {"TICKETBRIDGE_CONFIG": "b.toml"}) == (Path("b.toml"), True)
    assert resolve_config_path(None, {}) == (Path("ticketbridge.toml"), False)
