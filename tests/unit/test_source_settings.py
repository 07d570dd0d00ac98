"""`[[sources.*]]` in the configuration: the keys SPEC names, one-line errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticketbridge.app.config import load_settings
from ticketbridge.errors import ConfigError


def test_every_source_kind_reads_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[sources.zone]]\nfile = "zones/db.example.com"\norigin = "example.com"\n'
        '[[sources.octodns]]\npath = "octodns/"\n'
        '[[sources.prometheus]]\nfile_sd = "targets/*.json"\nstarttls = "smtp"\n'
        '[[sources.kubernetes]]\npath = "manifests/**/*.yaml"\n'
        '[[sources.ct]]\nfile = "ct/example.com.json"\ndomains = ["example.com"]\n'
    )
    sources = load_settings(path, environ={}).sources
    assert sources.zone[0].ports == [443] and sources.zone[0].origin == "example.com"
    assert sources.octodns[0].ports == [443] and sources.octodns[0].zone == ""
    assert sources.prometheus[0].default_port == 443 and sources.prometheus[0].starttls == "smtp"
    assert sources.kubernetes[0].path == "manifests/**/*.yaml"
    assert sources.ct[0].domains == ["example.com"]
    assert sources.any_endpoints


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[sources.zone]]\nfile = "z"\nport = 443\n', "sources.zone[0].port: unknown key"),
        (
            '[[sources.zone]]\nfile = "z"\nports = [true]\n',
            "sources.zone[0].ports[0]: must be a number",
        ),
        (
            '[[sources.zone]]\nfile = "z"\nports = []\n',
            "sources.zone[0].ports: List should have at least 1 item",
        ),
        ("[[sources.zone]]\norigin = 'x'\n", "sources.zone[0].file: required key is missing"),
        ('[[sources.dns]]\nfile = "z"\n', "sources.dns: unknown key"),
        (
            '[[sources.prometheus]]\nfile_sd = "t"\nstarttls = "smtps"\n',
            "sources.prometheus[0].starttls",
        ),
    ],
)
def test_a_bad_source_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert str(raised.value).startswith(f"{path}: {expected}")


def test_ct_alone_lists_no_endpoints(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[sources.ct]]\nfile = "ct.json"\n')
    assert not load_settings(path, environ={}).sources.any_endpoints
