"""Connecting Zendesk and Gorgias through the admin API: credentials are checked before anything is saved, kept
encrypted and never shown again; the helpdesk can be chosen for handoffs only once connected, and not disconnected
while chosen."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text

from frontdesk import credentials
from frontdesk.config import Settings
from frontdesk.db import Database
from frontdesk.handoff.connectors import accounts
from frontdesk.handoff.connectors.base import TicketRequest
from frontdesk.vault import Vault
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.zendesk import ZendeskFake
from tests.server import TEST_SECRET_KEY

ZENDESK = {"subdomain": "juniper", "email": "agent@juniper.example", "api_token": "zd-test-token"}
GORGIAS = {"domain": "juniper", "email": "agent@juniper.example", "api_key": "gg-test-key"}


async def test_wrong_token_is_refused_with_what_was_wrong_and_nothing_saved(
    client: httpx.AsyncClient, database: Database
) -> None:
    answer = await client.post("/api/integrations/zendesk", json={**ZENDESK, "api_token": "not-the-token"})

    assert answer.status_code == 400
    assert answer.json()["detail"] == "Zendesk did not accept the email/API token"
    assert "not-the-token" not in answer.text
    assert (await client.get("/api/integrations/zendesk")).json()["status"] == "not_connected"
    async with database.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM integrations")) == 0


async def test_unknown_account_and_unreachable_helpdesk_are_told_apart(
    client: httpx.AsyncClient, settings: Settings, fake_zendesk: ZendeskFake, fake_gorgias: GorgiasFake
) -> None:
    # A path the fake does not serve answers 404, as Zendesk does for a subdomain with no account.
    settings.zendesk_url_template = fake_zendesk.base_url + "/no-such-account"
    answer = await client.post("/api/integrations/zendesk", json=ZENDESK)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("no Zendesk account at 127.0.0.1:")

    fake_gorgias.stop()
    answer = await client.post("/api/integrations/gorgias", json=GORGIAS)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("could not reach Gorgias at 127.0.0.1:")


@pytest.mark.parametrize("subdomain", ["jun iper", "juniper.evil.example", "-juniper", "ju_niper", ""])
async def test_subdomain_must_be_a_plain_label(client: httpx.AsyncClient, subdomain: str) -> None:
    answer = await client.post("/api/integrations/zendesk", json={**ZENDESK, "subdomain": subdomain})
    assert answer.status_code == 422


async def test_pasted_address_is_read_as_its_subdomain(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/api/integrations/zendesk", json={**ZENDESK, "subdomain": "https://Juniper.zendesk.com/"}
    )
    assert answer.status_code == 201
    assert answer.json()["address"] == "juniper.zendesk.com"


async def test_connected_zendesk_keeps_its_token_encrypted_and_never_shows_it(
    client: httpx.AsyncClient, database: Database, fake_zendesk: ZendeskFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connected = await client.post("/api/integrations/zendesk", json=ZENDESK)
    shown = await client.get("/api/integrations/zendesk")
    listed = await client.get("/api/integrations")

    assert connected.status_code == 201
    body = shown.json()
    assert body["status"] == "connected"
    assert body["account"] == {"name": "Juniper Agent", "email": "agent@juniper.example", "id": "1"}
    assert body["reply_path"] == {"automatic": True, "ready": True, "error": None, "manual_steps_url": None}
    [webhook] = fake_zendesk.webhooks
    assert webhook.endpoint == "https://frontdesk.example/webhooks/zendesk"
    assert len(fake_zendesk.triggers) == 1

    async with database.session() as session:
        stored, stored_reply = (await session.execute(text("SELECT secret, reply_secret FROM integrations"))).one()
    assert "zd-test-token" not in stored and webhook.signing_secret not in stored_reply
    vault = Vault(TEST_SECRET_KEY)
    assert vault.decrypt(stored) == "zd-test-token"
    assert vault.decrypt(stored_reply) == webhook.signing_secret

    for said in (connected.text, shown.text, listed.text, caplog.text):
        assert "zd-test-token" not in said
        assert webhook.signing_secret not in said
        assert stored not in said


async def test_reply_path_failure_keeps_the_connection_and_points_to_the_manual_steps(
    client: httpx.AsyncClient, fake_zendesk: ZendeskFake
) -> None:
    fake_zendesk.fail_next("5xx", method="POST", path="/api/v2/webhooks")
    answer = await client.post("/api/integrations/zendesk", json=ZENDESK)

    assert answer.status_code == 201
    body = answer.json()
    assert body["status"] == "connected"
    assert body["reply_path"]["automatic"] is False and body["reply_path"]["ready"] is False
    assert "500" in body["reply_path"]["error"]
    assert body["reply_path"]["manual_steps_url"] == "/console/integrations#zendesk"

    # The admin follows the manual steps and hands frontdesk the signing secret Zendesk revealed.
    manual = await client.put("/api/integrations/zendesk/reply-secret", json={"secret": "revealed-by-zendesk"})
    assert manual.json()["reply_path"]["ready"] is True
    assert "revealed-by-zendesk" not in manual.text


async def test_helpdesk_can_be_chosen_once_connected_and_not_disconnected_while_chosen(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.put("/api/settings/handoff", json={"method": "zendesk"})
    assert refused.status_code == 409

    assert (await client.post("/api/integrations/zendesk", json=ZENDESK)).status_code == 201
    chosen = await client.put("/api/settings/handoff", json={"method": "zendesk"})
    assert chosen.status_code == 200 and chosen.json()["method"] == "zendesk"

    kept = await client.delete("/api/integrations/zendesk")
    assert kept.status_code == 409
    assert (await client.get("/api/integrations/zendesk")).json()["status"] == "connected"

    await client.put("/api/settings/handoff", json={"method": "builtin"})
    assert (await client.delete("/api/integrations/zendesk")).status_code == 204
    assert (await client.get("/api/integrations/zendesk")).json()["status"] == "not_connected"
    assert (await client.put("/api/settings/handoff", json={"method": "zendesk"})).status_code == 409


async def test_gorgias_connects_with_an_http_integration_carrying_a_generated_secret(
    client: httpx.AsyncClient, database: Database, fake_gorgias: GorgiasFake, settings: Settings
) -> None:
    answer = await client.post("/api/integrations/gorgias", json=GORGIAS)

    assert answer.status_code == 201
    assert answer.json()["reply_path"]["automatic"] is True
    [integration] = fake_gorgias.integrations
    assert integration.url == "https://frontdesk.example/webhooks/gorgias"
    header_secret = integration.headers["X-Frontdesk-Secret"]
    assert len(header_secret) >= 32
    assert "gg-test-key" not in answer.text and header_secret not in answer.text

    vault = Vault(TEST_SECRET_KEY)
    async with database.session() as session:
        assert await credentials.reply_secret(session, "gorgias", vault) == header_secret.encode()
        assert await credentials.reply_secret(session, "zendesk", vault) is None
    assert (await client.put("/api/settings/handoff", json={"method": "gorgias"})).status_code == 200


async def test_the_workers_connector_is_built_from_the_saved_credentials(
    client: httpx.AsyncClient, database: Database, fake_zendesk: ZendeskFake, settings: Settings
) -> None:
    await client.post("/api/integrations/zendesk", json=ZENDESK)
    request = TicketRequest(
        conversation_id="conv_1", subject="Chat handoff: hi", text="hi", html="<p>hi</p>", email="ana@example.com",
        phone=None, name="Ana", profile_id=None, channel="webchat", reason="unknown", link="https://x.example/c",
    )  # fmt: skip
    async with database.session() as session:
        connector = await accounts.connector_for(
            session, "zendesk", Vault(TEST_SECRET_KEY), settings, database.sessions
        )
    try:
        ref = await connector.create_ticket(request, "handoff-conv_1")
    finally:
        await connector.aclose()
    assert fake_zendesk.ticket_by_external_id("conv_1").id == int(ref.id)  # type: ignore[union-attr]


async def test_integrations_need_the_admin(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/api/integrations/zendesk", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_the_page_says_when_email_is_not_set_up_and_what_that_means(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/integrations")
    assert page.status_code == 200
    assert 'id="email-heading">Email (SMTP)' in page.text
    assert "Not set up" in page.text
    assert "Alerts to the team about handoffs nobody can take are skipped" in page.text
    assert "FRONTDESK_SMTP_HOST" in page.text
