"""Shoppers' profiles: an email typed at handoff is kept apart from the profile of the customer it names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from frontdesk.channels.webchat.service import user_hash
from frontdesk.config import Settings
from tests.channels.webchat.test_protocol import Chat, connect, conversation
from tests.server import ADMIN_HEADERS, running_server


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with running_server(settings.database_url, tmp_path / "serve.log", demo=False) as base:
        yield base


async def hand_off(chat: Chat, typed_email: str | None = None) -> None:
    await chat.send({"type": "message", "text": "talk to a human please"})
    await chat.until(lambda f: f.get("kind") == "offer")
    await chat.send({"type": "action", "action": "handoff_yes"})
    if typed_email:
        await chat.until(lambda f: f.get("kind") == "email_request")
        await chat.send({"type": "email", "email": typed_email})
    await chat.until(lambda f: f.get("status") == "with_team")


def inbox_view(base: str, conversation_id: str) -> dict[str, object]:
    found: dict[str, object] = httpx.get(
        f"{base}/api/inbox/conversations/{conversation_id}", headers=ADMIN_HEADERS
    ).json()
    return found


async def test_an_email_typed_at_handoff_never_joins_the_signed_in_customers_profile(server: str) -> None:
    secret = httpx.post(f"{server}/api/settings/widget/identity-secret", headers=ADMIN_HEADERS).json()
    signed = {"email": "ana@example.com", "user_hash": user_hash(secret["identity_secret"], "ana@example.com")}
    async with connect(server, signed) as (chat, ana):
        assert ana["signed_in"] is True
        await hand_off(chat)
    anas_profile = conversation(server, ana["conversation_id"])["profile_id"]
    assert anas_profile

    async with connect(server) as (chat, impostor):
        await hand_off(chat, typed_email="Ana@Example.com")
    typed = conversation(server, impostor["conversation_id"])
    assert typed["email"] == "ana@example.com"  # where a reply by email goes: what was typed
    assert typed["signed_in"] is False
    assert typed["profile_id"] not in (None, anas_profile)
    seen = inbox_view(server, impostor["conversation_id"])  # what the team sees of her
    assert (seen["profile_id"], seen["signed_in"]) == (typed["profile_id"], False)
    assert inbox_view(server, ana["conversation_id"])["profile_id"] == anas_profile

    # Typed again, it joins the typed email's profile; Ana signing in again joins hers.
    async with connect(server) as (chat, again):
        await hand_off(chat, typed_email="ana@example.com")
    assert conversation(server, again["conversation_id"])["profile_id"] == typed["profile_id"]
    async with connect(server, signed) as (_, back):
        assert back["signed_in"] is True
    assert conversation(server, back["conversation_id"])["profile_id"] == anas_profile


async def test_a_profile_made_from_a_typed_email_never_becomes_the_customers_when_she_signs_in(server: str) -> None:
    async with connect(server) as (chat, first):
        await hand_off(chat, typed_email="bo@example.com")
    typed_profile = conversation(server, first["conversation_id"])["profile_id"]
    secret = httpx.post(f"{server}/api/settings/widget/identity-secret", headers=ADMIN_HEADERS).json()
    signed = {"email": "bo@example.com", "user_hash": user_hash(secret["identity_secret"], "bo@example.com")}
    async with connect(server, signed) as (_, bo):
        assert bo["signed_in"] is True
    bos_profile = conversation(server, bo["conversation_id"])["profile_id"]
    assert bos_profile not in (None, typed_profile)
    # and the typed conversation stays where it was
    assert conversation(server, first["conversation_id"])["profile_id"] == typed_profile
