"""Operations endpoints: `/metrics` (Prometheus, behind its own token), `/healthz` (database and Redis) and `/readyz`
(only once the knowledge is loaded)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from frontdesk.app import create_app
from frontdesk.config import Settings
from tests.channels.webchat.test_protocol import connect
from tests.server import free_port, running_server

METRICS_TOKEN = "metrics-token-" + "x" * 32


def scrape(base: str) -> str:
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def value(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in the scrape"
    return float(found.group(1))


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "bearer " + METRICS_TOKEN, "Basic " + METRICS_TOKEN, "Bearer wrong-token",
     "Bearer " + METRICS_TOKEN + "x"],
)  # fmt: skip
async def test_metrics_without_the_right_token_is_401_and_shows_nothing(
    settings: Settings, authorization: str | None
) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        headers = {"Authorization": authorization} if authorization is not None else {}
        refused = await http.get("/metrics", headers=headers)
    assert refused.status_code == 401
    assert "frontdesk_" not in refused.text


async def test_metrics_is_closed_when_no_metrics_token_is_set(client: httpx.AsyncClient) -> None:
    # Not even the admin API token opens it: with no FRONTDESK_METRICS_TOKEN nobody scrapes.
    assert (await client.get("/metrics")).status_code == 401


def test_metrics_count_messages_decisions_sockets_handoffs_and_the_outbox(settings: Settings, tmp_path: Path) -> None:
    env = {"FRONTDESK_METRICS_TOKEN": METRICS_TOKEN, "FRONTDESK_RUN_WORKER": "false"}
    with running_server(settings.database_url, tmp_path / "serve.log", env) as base:

        async def chat() -> str:
            async with connect(base) as (shopper, _):
                assert value(scrape(base), 'frontdesk_websocket_connections{socket="webchat"}') == 1
                await shopper.send({"type": "message", "text": "do you ship to canada?"})
                await shopper.until(lambda f: f.get("author") == "ai", timeout=15)
                await shopper.send({"type": "message", "text": "can you recommend a campsite near bend oregon?"})
                await shopper.until(lambda f: f.get("kind") == "offer", timeout=15)
                await shopper.send({"type": "action", "action": "handoff_yes"})
                await shopper.until(lambda f: f.get("kind") == "email_request", timeout=15)
                await shopper.send({"type": "email", "email": "ana@example.com"})
                await shopper.until(lambda f: f.get("text", "").startswith("Thanks"), timeout=15)
            return scrape(base)

        text = asyncio.run(chat())
    assert value(text, 'frontdesk_messages_total{author="shopper"}') >= 3
    assert value(text, 'frontdesk_messages_total{author="ai"}') >= 2
    assert value(text, 'frontdesk_decisions_total{kind="answer"}') == 1
    assert value(text, 'frontdesk_decisions_total{kind="unknown"}') == 1
    assert value(text, "frontdesk_decide_seconds_count") == 2
    assert value(text, "frontdesk_webchat_turn_seconds_count") >= 2
    assert value(text, 'frontdesk_websocket_connections{socket="webchat"}') == 0
    # No worker here: the handoff waits in the outbox, which the scrape reads from the database.
    assert value(text, 'frontdesk_handoffs{method="builtin"}') == 1
    assert value(text, 'frontdesk_outbox_rows{kind="handoff",status="pending",target="builtin"}') == 1
    assert value(text, "frontdesk_outbox_oldest_pending_seconds") >= 0
    assert 'frontdesk_http_request_seconds_count{method="GET",status="2xx"}' in text


async def test_readyz_is_503_until_the_knowledge_is_loaded_then_200(settings: Settings) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/readyz")).status_code == 503  # the lifespan has not loaded anything yet
        async with app.router.lifespan_context(app):
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["knowledge_entries"] == len(app.state.knowledge.entries)
        assert (await http.get("/readyz")).status_code == 503  # stopping: take no new traffic


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, which the test may stop."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                break
            subprocess.run(["sleep", "0.05"])
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.kill()
        process.wait()


async def test_healthz_checks_redis_and_answers_503_when_it_is_gone(
    settings: Settings, own_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, redis_process = own_redis
    app = create_app(settings.model_copy(update={"redis_url": SecretStr(url)}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/healthz")).status_code == 200
        redis_process.kill()
        redis_process.wait()
        gone = await http.get("/healthz")
        assert gone.status_code == 503
        assert gone.json()["detail"] == "Redis does not answer"
