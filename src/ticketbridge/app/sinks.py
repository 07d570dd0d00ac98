"""The configured on-call sinks, their secrets read from the config or the environment it names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from ticketbridge.app.config import AlertsSettings, Settings
from ticketbridge.app.config_path import environment
from ticketbridge.app.gather import resolve_relative
from ticketbridge.core.plan import PageEvent
from ticketbridge.core.ports import Pager
from ticketbridge.errors import ConfigError, PagerError

if TYPE_CHECKING:
    from ticketbridge.alerts.http import HttpSink


def any_sink(alerts: AlertsSettings) -> bool:
    return bool(alerts.pagerduty or alerts.webhook or alerts.opsgenie or alerts.slack)


def secret_of(value: SecretStr, variable: str, where: str, environ: Mapping[str, str]) -> str:
    """The secret itself, or the one in the environment variable the config names."""
    if not variable:
        return value.get_secret_value()
    found = environ.get(variable)
    if not found:
        raise ConfigError(f"{where}_env: environment variable {variable} is not set")
    return found


def sinks_of(alerts: AlertsSettings, environ: Mapping[str, str]) -> list[HttpSink]:
    from ticketbridge.alerts import OpsgenieSink, PagerDutySink, SlackSink, WebhookSink

    sinks: list[HttpSink] = [
        PagerDutySink(url=entry.url, routing_key=entry.routing_key.get_secret_value())
        for entry in alerts.pagerduty
    ]
    sinks.extend(
        WebhookSink(url=entry.url, secret=entry.secret.get_secret_value())
        for entry in alerts.webhook
    )
    for index, opsgenie in enumerate(alerts.opsgenie):
        where = f"alerts.opsgenie[{index}].api_key"
        key = secret_of(opsgenie.api_key, opsgenie.api_key_env, where, environ)
        if not key:
            raise ConfigError(f"{where}: required (or api_key_env naming a variable)")
        sinks.append(OpsgenieSink(url=opsgenie.url, api_key=key))
    for index, slack in enumerate(alerts.slack):
        where = f"alerts.slack[{index}].webhook_url"
        url = secret_of(slack.webhook_url, slack.webhook_url_env, where, environ)
        if not url:
            raise ConfigError(f"{where}: required (or webhook_url_env naming a variable)")
        sinks.append(SlackSink(url=url))
    return sinks


class PlanOnlyPager:
    """Sinks are configured, so pages are planned; a dry run sends nothing and needs no secret."""

    def send(self, event: PageEvent) -> None:
        raise PagerError("a dry run sends no page")


def configured_pager(
    settings: Settings,
    config_path: Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    dry_run: bool = False,
) -> Pager | None:
    """Every configured sink behind one Pager with its delivery ledger, or None without sinks."""
    from ticketbridge.alerts import DeliveryLedger, FanOutPager

    if not any_sink(settings.alerts):
        return None
    if dry_run:
        return PlanOnlyPager()
    try:
        sinks = sinks_of(settings.alerts, environment() if environ is None else environ)
    except ConfigError as exc:
        where = f"{config_path}: " if config_path is not None else ""
        raise ConfigError(f"{where}{exc}") from None
    ledger = None
    if config_path is not None:
        ledger = DeliveryLedger(resolve_relative(settings.alerts.ledger_path, config_path))
    return FanOutPager(sinks, ledger)
