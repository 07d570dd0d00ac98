"""What a hostile ticket server echoes never reaches the terminal: not the token, not its page.

The server answers every request 400 with the request itself as the body, lower-cased (a proxy's
debug page does this), wrapped in an HTML page with terminal escapes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import run_cli
from support.rawhttp import RawHttpServer, Script, response

TOKEN = "ATATT3xFfGF0ScrubMeIfYouCan0123456789abcdefXYZ"
PASSWORD = "pa55-in-the-url"


def _echo(request: bytes) -> bytes:
    page = b"<html>\x1b[2J\x1b[31m" + request.lower() + b"</html>\r\n" * 2000
    return response(400, "Bad Request", body=page)


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_an_echoed_token_and_url_password_never_reach_stderr(tmp_path: Path, debug: bool) -> None:
    with RawHttpServer([Script([], reply=_echo)]) as jira:
        # A password in jira.url is refused at load since issue 14 (test_jira_bad_day_cli.py):
        # here the URL is clean and only the echo is hostile.
        url = f"http://{jira.address}:{jira.port}"
        (tmp_path / "ticketbridge.toml").write_text(
            f'[tickets]\nbackend = "jira"\n\n[jira]\nurl = "{url}"\ndeployment = "cloud"\n'
            'project = "OPS"\nemail = "ops@example.com"\n\n'
            '[[endpoints]]\nhost = "app.example.com"\nport = 1\naddresses = ["127.0.0.9"]\n'
        )
        args = ["--debug"] if debug else []
        result = run_cli(
            *args,
            "--config",
            str(tmp_path / "ticketbridge.toml"),
            "plan",
            env={"TICKETBRIDGE_JIRA__TOKEN": TOKEN},
            timeout=120,
        )
    assert jira.posts >= 1, result.stderr  # the server was asked, and answered with the echo
    err = result.stderr
    assert result.returncode != 0
    assert TOKEN.lower() not in err.lower()
    assert PASSWORD not in err
    assert "\x1b" not in err
    if not debug:
        assert len(err.strip().splitlines()) == 1, err[:3000]
