"""Behind a reverse proxy the web chat limits key on each shopper's address (X-Forwarded-For from a trusted proxy),
and nobody else can pick their own address with that header. Over a real `frontdesk serve` and real WebSockets;
the tests connect from 127.0.0.1, which plays the proxy."""

from __future__ import annotations

import json
from pathlib import Path

import websockets

from frontdesk.config import Settings
from tests.server import running_server

BURST = 10  # new conversations one address may open at once (WebchatLimits.ip_conversations)


async def open_conversation(base: str, forwarded_for: str) -> dict[str, object]:
    """A new visitor's hello, sent through the proxy for `forwarded_for`; the server's first answer to it."""
    url = base.replace("http://", "ws://") + "/ws/webchat"
    async with websockets.connect(url, additional_headers={"X-Forwarded-For": forwarded_for}) as socket:
        await socket.send(json.dumps({"type": "hello"}))
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] in {"welcome", "error"}:
                return frame


async def test_two_shoppers_behind_one_trusted_proxy_are_limited_apart(settings: Settings, tmp_path: Path) -> None:
    # frontdesk's own setting decides; uvicorn's variable of the same meaning is not consulted.
    proxy = {"FRONTDESK_FORWARDED_ALLOW_IPS": "127.0.0.1", "FORWARDED_ALLOW_IPS": "10.20.30.40"}
    with running_server(settings.database_url, tmp_path / "serve.log", proxy, demo=False) as base:
        first = [await open_conversation(base, "198.51.100.7") for _ in range(BURST + 1)]
        assert [frame["type"] for frame in first] == ["welcome"] * BURST + ["error"]
        assert first[-1]["code"] == "rate_limited"
        # The next shopper, behind the same proxy, is not held back by the first one's flood.
        assert (await open_conversation(base, "203.0.113.20"))["type"] == "welcome"
        # Nor can the first one dodge the limit by putting a made-up address before the proxy's own entry.
        dodged = await open_conversation(base, "192.0.2.99, 198.51.100.7")
        assert dodged["type"] == "error" and dodged["code"] == "rate_limited"


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(settings: Settings, tmp_path: Path) -> None:
    proxy_elsewhere = {"FRONTDESK_FORWARDED_ALLOW_IPS": "10.20.30.40"}
    with running_server(settings.database_url, tmp_path / "serve.log", proxy_elsewhere, demo=False) as base:
        frames = [await open_conversation(base, f"198.51.100.{n}") for n in range(BURST + 1)]
    assert [frame["type"] for frame in frames] == ["welcome"] * BURST + ["error"]
    assert frames[-1]["code"] == "rate_limited"
