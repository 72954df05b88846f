"""FRONTDESK_API_TOKEN: a short or empty token is refused at startup, and an empty credential never opens anything."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from frontdesk.app import create_app
from frontdesk.cli import app as cli
from frontdesk.config import Settings
from frontdesk.users.access import Principal, csrf_matches

runner = CliRunner()


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize("token", ["", "   ", "s3cret-token"])
def test_an_empty_or_short_api_token_stops_the_start_with_one_readable_line(
    settings: Settings, command: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def started(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("started with a weak API token")

    monkeypatch.setattr("uvicorn.run", started)
    monkeypatch.setattr("frontdesk.cli._run", started)
    result = runner.invoke(cli, [command], env={"FRONTDESK_API_TOKEN": token})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "error: FRONTDESK_API_TOKEN: the API token" in result.output
    assert "needs at least 32" in result.output
    assert "openssl rand -hex 32" in result.output
    assert "Traceback" not in result.output
    if token.strip():
        assert token not in result.output


@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer", "Bearer    ", "bearer ", " ", "Basic ", "Bearer \t"])
async def test_an_empty_credential_never_opens_the_admin_api(settings: Settings, authorization: str) -> None:
    # An empty token that got past the settings check (or a Settings made in code) still matches nothing.
    for token in ("", settings.api_token.get_secret_value() if settings.api_token else ""):
        app = create_app(settings.model_copy(update={"api_token": SecretStr(token)}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                headers = {"Authorization": authorization}
                secret = await http.post("/api/settings/widget/identity-secret", headers=headers)
                assert secret.status_code == 401, (token, authorization, secret.text)
                assert "identity_secret" not in secret.text
                assert (await http.get("/api/knowledge", headers=headers)).status_code == 401
                assert (await http.get("/api/me", headers=headers)).status_code == 401
                http.cookies.set("frontdesk_session", "")
                assert (await http.get("/api/me")).status_code == 401


def test_an_empty_csrf_token_matches_no_session_not_even_one_with_an_empty_token() -> None:
    for stored in ("", None):
        session = Principal(user_id=1, email="ada@shop.example", role="admin", name="Ada", csrf_token=stored)
        assert not csrf_matches(session, "")
        assert not csrf_matches(session, None)
    session = Principal(user_id=1, email="ada@shop.example", role="admin", name="Ada", csrf_token="t" * 43)
    assert not csrf_matches(session, "")
    assert csrf_matches(session, "t" * 43)
