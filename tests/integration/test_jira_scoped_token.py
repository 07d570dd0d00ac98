"""Service accounts and scoped tokens (issue 14): API calls through the gateway for the site's cloud
id (configured or discovered), links on the site, and a 401 described for what it is.

The local Jira plays the gateway too (contract.BEHAVIOURS["SCOPED_TOKENS"]): with
`scoped_token=True` it refuses the token on the site's own /rest/api paths (as Atlassian's KB
says a scoped token is refused there) and serves the same API under /ex/jira/<cloudId>.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import pytest

from support.hostile import Answer, Hostile, jira_json
from support.jirafake import JiraFake
from support.jirafake.replay import every_request_keeps_the_contract  # noqa: F401
from ticketbridge.app.config import Settings
from ticketbridge.app.doctor import run_checks
from ticketbridge.core.model import MARKER_LABEL, marker_label
from ticketbridge.core.ports import NewTicket
from ticketbridge.errors import BackendError, ConfigError
from ticketbridge.infra.retrying import RetryPolicy
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import JiraTicketSystem

ONCE = RetryPolicy(max_attempts=1)


def options(fake: JiraFake, **changes: Any) -> JiraOptions:
    values: dict[str, Any] = {
        "url": fake.url,
        "project": "OPS",
        "email": fake.email,
        "token": fake.token,
        "requests_per_second": 1000,
        "gateway_url": fake.url,  # the local Jira is the gateway too
    }
    return JiraOptions(**(values | changes))


def new_ticket() -> NewTicket:
    cid = secrets.token_hex(8)
    return NewTicket(
        summary="Renew app.example.com",
        description="Expires soon.",
        due_date=dt.date(2026, 12, 1),
        labels=(MARKER_LABEL, marker_label(cid)),
        certificate_id=cid,
        evidence={"certificate_id": cid, "endpoints": ["app.example.com:443@192.0.2.10"]},
    )


@pytest.mark.parametrize("configured", ["id", "discover"])
def test_a_scoped_token_works_through_the_gateway_and_links_stay_on_the_site(
    configured: str,
) -> None:
    with JiraFake(flavour="cloud", scoped_token=True) as fake:
        cloud_id = fake.cloud_id if configured == "id" else "discover"
        with JiraTicketSystem(options(fake, cloud_id=cloud_id), retry_policy=ONCE) as system:
            created = system.create(new_ticket(), "Filed.")
            assert [t.key for t in system.open_tickets()] == [created.key]
        api_calls = [r.path for r in fake.requests_log if "/rest/api/" in r.path]
        discovered = [r.path for r in fake.requests_log if "tenant_info" in r.path]
    assert created.url == f"{fake.url}/browse/{created.key}"
    assert api_calls and all(
        p.startswith(f"/ex/jira/{fake.cloud_id}/rest/api/3/") for p in api_calls
    )
    assert discovered == (["/_edge/tenant_info"] if configured == "discover" else [])


def test_a_scoped_token_on_the_site_url_is_refused_with_a_hint() -> None:
    with (
        JiraFake(flavour="cloud", scoped_token=True) as fake,
        JiraTicketSystem(options(fake, deployment="cloud"), retry_policy=ONCE) as system,
        pytest.raises(BackendError, match=r"refused the credentials.*jira\.cloud_id"),
    ):
        system.open_tickets()


def test_a_401_without_credentials_sent_is_not_called_a_refusal_of_them() -> None:
    def script(method: str, path: str, body: bytes) -> Answer:
        return jira_json({"errorMessages": ["Login required"]}, 401)

    with Hostile(script) as peer:
        system = JiraTicketSystem(
            JiraOptions(url=peer.url, project="OPS", token="t0ken", email="bot@example.com"),
            retry_policy=ONCE,
        )
        with system, pytest.raises(BackendError) as raised:
            system.open_tickets()  # deployment "auto": serverInfo first, without credentials
        assert [s.authorization for s in peer.seen] == [""]
    assert "refused the credentials" not in str(raised.value)
    assert "without credentials" in str(raised.value)


def test_doctor_says_which_kind_of_token_is_in_use(tmp_path: Path) -> None:
    said = {}
    for scoped in (False, True):
        with JiraFake(flavour="cloud", scoped_token=scoped) as fake:
            jira: dict[str, Any] = {
                "url": fake.url,
                "project": "OPS",
                "email": fake.email,
                "token": fake.token,
                "requests_per_second": 1000,
                "gateway_url": fake.url,
                "cloud_id": fake.cloud_id if scoped else "",
            }
            settings = Settings.model_validate({"tickets": {"backend": "jira"}, "jira": jira})
            results = run_checks(settings, tmp_path / "t.toml", sleep=lambda seconds: None)
        (credentials,) = [r for r in results if r.name == "credentials"]
        assert credentials.ok, credentials.detail
        said[scoped] = credentials.detail
    assert "classic API token" in said[False]
    assert "scoped API token" in said[True] and "/ex/jira/" in said[True]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"cloud_id": "not-a-uuid"}, "jira.cloud_id"),
        ({"cloud_id": "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0", "deployment": "datacenter"},
         "jira.cloud_id"),
        ({"gateway_url": "ftp://gateway"}, "jira.gateway_url"),
    ],
)  # fmt: skip
def test_a_bad_gateway_setting_is_one_line_naming_the_key(
    changes: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key):
        JiraTicketSystem(
            JiraOptions(url="https://example.atlassian.net", project="OPS", token="t", email="a@b.c",
                        **changes)  # type: ignore[arg-type]
        )  # fmt: skip
