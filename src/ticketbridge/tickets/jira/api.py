"""The Jira REST transport: one session, auth, deployment detection, retries, pacing, error mapping.

This is the seam the adapter and `doctor` share. It owns a `requests.Session` of its own: no
client library's private state, no library-side retries (they re-send POSTs, which is how naive
clients file duplicates), no redirects followed (an API call answered with a redirect would
otherwise re-send its body, or the token, to wherever the `Location` points).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, Literal

import requests
import requests.auth
import urllib3

from ticketbridge.errors import BackendError
from ticketbridge.infra.clock import utcnow
from ticketbridge.infra.retrying import (
    Failure,
    Pacer,
    Retrier,
    RetryPolicy,
    Safety,
)
from ticketbridge.infra.scrub import register_secret
from ticketbridge.tickets.jira.deadline import Watchdog, WatchedAdapter
from ticketbridge.tickets.jira.failures import (
    JiraPermanentError,
    JiraTransientError,
    classify,
    expect_object,
    odd,
    refusal,
)
from ticketbridge.tickets.jira.gateway import (
    DISCOVER,
    check_cloud_id,
    cloud_id_from,
    gateway_base,
    token_kind,
)
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.wire import (
    MAX_BODY,
    ByteBudget,
    ExactAuthorization,
    decoded,
    never_sent,
    too_large,
)

__all__ = [
    "ByteBudget",
    "Deployment",
    "JiraApi",
    "JiraPermanentError",
    "JiraTransientError",
]

log = logging.getLogger(__name__)

Deployment = Literal["cloud", "datacenter"]
Clock = Callable[[], datetime]
Sleep = Callable[[float], None]

# How much of a body is read at a time while the per-request deadline is watched.
_CHUNK: Final = 16_384


class JiraApi:
    """Requests to one Jira site under one retry policy, one pacer and one deadline each."""

    def __init__(
        self,
        options: JiraOptions,
        *,
        clock: Clock = utcnow,
        sleep: Sleep = time.sleep,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        options.check()
        check_cloud_id(options.cloud_id)
        self.options = options
        # The site: links for people and serverInfo. API calls go to `api_base()`.
        self.url = options.address.rstrip("/")
        self._base: str | None = None if options.cloud_id else self.url
        self._clock = clock
        self._policy = retry_policy or RetryPolicy()
        self._retrier = Retrier(self._policy, classify, clock=clock, sleep=sleep)
        self._pacer = Pacer(options.requests_per_second, clock=clock, sleep=sleep)
        self._basic = base64.b64encode(f"{options.email}:{options.token}".encode()).decode()
        self._secrets: tuple[str, ...] = (options.token, self._basic) if options.token else ()
        # One scrubber for the process (infra/scrub.py): logs, error lines and tracebacks too.
        register_secret(options.token, user=options.email)
        self._lock = threading.Lock()
        self._session = requests.Session()
        # Its connections hand their sockets to the per-request watchdog (deadline.py).
        self._session.mount("https://", WatchedAdapter())
        self._session.mount("http://", WatchedAdapter())
        self._session.headers.update(
            {
                "Accept": "application/json",
                "Content-Type": "application/json",
                # Jira's XSRF check refuses some writes without it (the jira package sends it too).
                "X-Atlassian-Token": "no-check",
                # Only what wire.decoded undoes (requests would add br or zstd when installed).
                "Accept-Encoding": "gzip, deflate",
            }
        )
        self._deployment: Deployment | None = None
        self._server_info: dict[str, Any] | None = None

    def close(self) -> None:
        self._session.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    # -- deployment ------------------------------------------------------------------------------

    @property
    def deployment(self) -> Deployment:
        """Cloud or Data Center: configured, or detected from serverInfo once."""
        with self._lock:
            known = self._deployment
        if known is not None:
            return known
        if self.options.cloud_id:
            detected: Deployment = "cloud"  # only Cloud has cloud ids and scoped tokens
        elif self.options.deployment == "auto":
            kind = str(self.server_info().get("deploymentType", "")).lower()
            # Data Center nodes report "Server" (or "DataCenter"); only Cloud says "Cloud".
            detected = "cloud" if kind == "cloud" else "datacenter"
        else:
            detected = self.options.deployment
        if detected == "cloud" and not self.options.email:
            raise JiraPermanentError(
                f"{self.url} is Jira Cloud: set jira.email to the account the API token belongs to"
            )
        with self._lock:
            self._deployment = detected
        return detected

    @property
    def cloud(self) -> bool:
        return self.deployment == "cloud"

    @property
    def version(self) -> str:
        # Cloud takes text as Atlassian documents on v3; Data Center has only v2.
        return "3" if self.cloud else "2"

    def _authorization(self) -> str:
        if self.cloud:
            return f"Basic {self._basic}"
        return f"Bearer {self.options.token}"

    def api_base(self) -> str:
        """Where REST calls go: the site, or the gateway for a scoped token (gateway.py)."""
        if self._base is None:
            cloud_id = self.options.cloud_id
            if cloud_id == DISCOVER:
                what = "discover the cloud id of the site"
                answer = self._send(
                    "GET",
                    f"{self.url}/_edge/tenant_info",
                    params=None,
                    body=None,
                    safety=Safety.READ,
                    verify=None,
                    what=what,
                    authorization=None,
                )
                cloud_id = cloud_id_from(answer, what)
            self._base = gateway_base(self.options.gateway_url, cloud_id)
        return self._base

    @property
    def token_kind(self) -> str:
        return token_kind(self.cloud, self.options.cloud_id, self.api_base())

    # -- what doctor asks ------------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        """GET serverInfo without credentials: reachability, TLS and the deployment type."""
        if self._server_info is None:
            answer = self._send(
                "GET",
                f"{self.url}/rest/api/2/serverInfo",
                params=None,
                body=None,
                safety=Safety.READ,
                verify=None,
                what="read the Jira server info",
                authorization=None,
            )
            self._server_info = answer if isinstance(answer, dict) else {}
        return dict(self._server_info)

    def myself(self) -> dict[str, Any]:
        return expect_object(
            self.call("GET", "myself", safety=Safety.READ, what="check the credentials"),
            "check the credentials",
        )

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """One read of the REST API (the deployment's version), under the retry policy."""
        return self.call("GET", path, params=params, safety=Safety.READ, what=f"read {path}")

    # -- requests --------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        safety: Safety,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        verify: Callable[[], Any] | None = None,
        what: str,
        budget: ByteBudget | None = None,
    ) -> Any:
        url = f"{self.api_base()}/rest/api/{self.version}/{path}"
        return self._send(
            method,
            url,
            params=params,
            body=body,
            safety=safety,
            verify=verify,
            what=what,
            authorization=self._authorization(),
            budget=budget,
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        safety: Safety,
        verify: Callable[[], Any] | None,
        what: str,
        authorization: str | None,
        budget: ByteBudget | None = None,
    ) -> Any:
        data = None if body is None else json.dumps(body)
        auth = ExactAuthorization(authorization)

        def attempt() -> Any:
            self._pacer.acquire()
            log.debug("%s %s", method, url)
            try:
                status, answer_headers, content = self._exchange(
                    method, url, params=params, data=data, auth=auth, budget=budget
                )
            except requests.RequestException as exc:
                raise self._translate(exc, what) from None
            return self._answer(
                status, answer_headers, content, what, authenticated=authorization is not None
            )

        return self._retrier.call(attempt, safety=safety, verify=verify, what=what)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        data: str | None,
        auth: requests.auth.AuthBase,
        budget: ByteBudget | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One request, connect to last byte, within `jira.timeout` of wall-clock time.

        `timeout` in requests bounds each socket read, not the call: a peer sending one byte a
        second, in its headers or its body, would hold it for ever. The watchdog shuts the
        socket down at the deadline, which ends a read blocked in the headers too.
        """
        timeout = self.options.timeout
        with Watchdog(timeout) as watchdog:
            try:
                return self._exchange_within(
                    method, url, params=params, data=data, auth=auth, budget=budget
                )
            except requests.RequestException:
                if watchdog.expired:
                    raise requests.exceptions.ReadTimeout(
                        f"no full answer within {timeout:g}s"
                    ) from None
                raise

    def _exchange_within(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        data: str | None,
        auth: requests.auth.AuthBase,
        budget: ByteBudget | None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        timeout = self.options.timeout
        deadline = time.monotonic() + timeout
        cap = MAX_BODY if budget is None else max(1, min(MAX_BODY, budget.left))
        response = self._session.request(
            method,
            url,
            params=params,
            data=data,
            auth=auth,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            # Per request: a session-wide value loses to REQUESTS_CA_BUNDLE from the environment.
            verify=self.options.ca_bundle or True,
        )
        with response:
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise requests.exceptions.ReadTimeout(f"no full answer within {timeout:g}s")
                try:
                    # Undecoded: urllib3's decoding read1 can end early on a gzip body.
                    chunk = response.raw.read1(_CHUNK, decode_content=False)
                except urllib3.exceptions.ReadTimeoutError as exc:
                    raise requests.exceptions.ReadTimeout(str(exc)) from None
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    raise requests.exceptions.ConnectionError(str(exc)) from None
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    raise too_large(budget, url)
            headers = dict(response.headers)
            content = decoded(headers, b"".join(chunks), what=url, cap=cap, budget=budget)
            if budget is not None:
                budget.left -= len(content)
            return response.status_code, headers, content

    def _answer(
        self,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        what: str,
        *,
        authenticated: bool = True,
    ) -> Any:
        if 300 <= status < 400:
            raise JiraPermanentError(
                f"{what}: Jira answered HTTP {status} (a redirect); API calls never follow "
                "redirects: set jira.url to the address Jira serves its API on",
                status,
            )
        if status >= 400:
            raise refusal(
                status,
                headers,
                content,
                what,
                authenticated=authenticated,
                now=self._clock(),
                max_retry_after=self._policy.max_retry_after,
                # A classic-token client on Cloud: a 401 may be a scoped token (gateway.py).
                scoped_hint=self._deployment == "cloud" and not self.options.cloud_id,
            )
        if not content:
            return {}
        try:
            return json.loads(content)
        except ValueError:
            # A 2xx page that is not JSON (a proxy's login page, a captive portal) will not
            # become JSON by asking again: one line, now.
            raise odd(what, f"HTTP {status} without JSON") from None
        except RecursionError:
            # Deeply nested arrays: no answer Jira documents nests this deep.
            raise odd(what, "JSON nested too deeply") from None

    def _translate(self, exc: requests.RequestException, what: str) -> BackendError:
        if isinstance(exc, requests.exceptions.SSLError):
            return JiraPermanentError(
                f"{what}: TLS verification of {self.url} failed; for a private CA set "
                "jira.ca_bundle"
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return JiraTransientError(
                f"{what}: timed out connecting to {self.url}", Failure(True, delivered=False)
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            if never_sent(exc):
                return JiraTransientError(
                    f"{what}: cannot connect to {self.url}", Failure(True, delivered=False)
                )
            return JiraTransientError(f"{what}: the connection to Jira dropped", Failure(True))
        if isinstance(exc, requests.exceptions.Timeout):
            return JiraTransientError(
                f"{what}: no answer within {self.options.timeout:g}s", Failure(True)
            )
        return JiraTransientError(f"{what}: {type(exc).__name__} talking to Jira", Failure(True))
