"""Hostile and mistaken configuration: booleans for numbers, the environment as a source that
names itself in errors, and paths anchored at the config file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ticketbridge.app.config import load_settings
from ticketbridge.errors import ConfigError


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sub" / "c.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[endpoints]]\nhost = "a.example.com"\nport = true\n', "endpoints[0].port"),
        ("[discovery]\nconcurrency = true\n", "discovery.concurrency"),
        ("[discovery]\nconnect_timeout = false\n", "discovery.connect_timeout"),
        ("[policy]\nlead_days = true\n", "policy.lead_days"),
    ],
)
def test_true_is_not_a_number(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"c\.toml: {re.escape(key)}: must be a number"):
        load_settings(_config(tmp_path, text), environ={})


def test_numbers_from_the_environment_are_still_read(tmp_path: Path) -> None:
    path = _config(tmp_path, "[discovery]\nconcurrency = 8\n")
    settings = load_settings(path, environ={"TICKETBRIDGE_DISCOVERY__CONCURRENCY": "12"})
    assert settings.discovery.concurrency == 12


def test_a_json_table_and_a_key_inside_it_merge_over_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path, "[discovery]\nconcurrency = 8\nworkers = 2\n")
    settings = load_settings(
        path,
        environ={
            "TICKETBRIDGE_DISCOVERY": '{"connect_timeout": 1.5}',
            "ticketbridge_discovery__concurrency": "3",  # names are case-insensitive
        },
    )
    assert (settings.discovery.concurrency, settings.discovery.workers) == (3, 2)
    assert settings.discovery.connect_timeout == 1.5


def test_a_bad_value_inside_an_env_json_table_names_the_variable(tmp_path: Path) -> None:
    path = _config(tmp_path, "")
    with pytest.raises(
        ConfigError,
        match=r"^environment variable TICKETBRIDGE_POLICY: policy\.lead_days: must be a number",
    ):
        load_settings(path, environ={"TICKETBRIDGE_POLICY": '{"lead_days": true}'})


@pytest.mark.parametrize(
    "name", ["TICKETBRIDGE_POLICIES__LEAD_DAYS", "TICKETBRIDGE_JIRA__TOKENN", "TICKETBRIDGE_"]
)
def test_unknown_variables_are_errors(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^environment variable {name}: unknown key"):
        load_settings(_config(tmp_path, ""), environ={name: "x"})


def test_the_config_path_variable_and_named_passwords_are_not_settings(tmp_path: Path) -> None:
    path = _config(
        tmp_path, '[[files]]\npath = "*.p12"\npassword_env = "TICKETBRIDGE_P12_PASSWORD"\n'
    )
    environ = {"TICKETBRIDGE_CONFIG": str(path), "TICKETBRIDGE_P12_PASSWORD": "pw"}
    assert load_settings(path, environ=environ).files[0].password_env == "TICKETBRIDGE_P12_PASSWORD"


def test_jira_ca_bundle_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, '[jira]\nca_bundle = "ca.pem"\n')
    monkeypatch.chdir(tmp_path)  # cron's working directory is not the config's
    assert load_settings(path, environ={}).jira.ca_bundle == str(tmp_path / "sub" / "ca.pem")
    absolute = _config(tmp_path, '[jira]\nca_bundle = "/etc/ssl/ca.pem"\n')
    assert load_settings(absolute, environ={}).jira.ca_bundle == "/etc/ssl/ca.pem"


def test_dev_null_is_an_empty_config_and_the_environment_fills_it() -> None:
    settings = load_settings(
        Path("/dev/null"), environ={"TICKETBRIDGE_TICKETS__LOCAL_PATH": "/srv/tb/tickets.db"}
    )
    assert settings.tickets.local_path == "/srv/tb/tickets.db"
