"""The demo shop's `?as=EMAIL`: only with `serve --demo`, and never signed with the store's identity secret."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from frontdesk.channels.webchat.service import user_hash
from frontdesk.config import Settings
from tests.channels.webchat.test_protocol import connect
from tests.server import ADMIN_HEADERS, running_server

OWNER = "owner@bigcustomer.example"


def identity_verification(base: str) -> bool:
    widget = httpx.get(f"{base}/api/settings/widget", headers=ADMIN_HEADERS).json()
    return bool(widget["identity_verification"])


async def test_without_demo_the_front_page_gives_out_no_hash_and_makes_no_secret(
    settings: Settings, tmp_path: Path
) -> None:
    with running_server(settings.database_url, tmp_path / "serve.log", demo=False) as base:
        for params in ({"as": OWNER}, {}):
            page = httpx.get(f"{base}/", params=params)
            assert page.status_code == 200
            assert "data-user-hash" not in page.text
            assert "widget.js" not in page.text
            assert "frontdesk serve --demo" in page.text
        assert identity_verification(base) is False
        secret = httpx.post(f"{base}/api/settings/widget/identity-secret", headers=ADMIN_HEADERS).json()
        page = httpx.get(f"{base}/", params={"as": OWNER})
        assert user_hash(secret["identity_secret"], OWNER) not in page.text
        assert "data-user-hash" not in page.text
    assert "Demo shop" not in (tmp_path / "serve.log").read_text()  # nor does the banner point at one


async def test_a_demo_hash_signs_in_on_its_demo_process_only_and_the_store_secret_is_never_used(
    settings: Settings, tmp_path: Path
) -> None:
    with running_server(settings.database_url, tmp_path / "demo.log") as base:
        page = httpx.get(f"{base}/", params={"as": OWNER})
        found = re.search(r'data-email="([^"]+)" data-user-hash="([0-9a-f]{64})"', page.text)
        assert found, page.text
        assert found[1] == OWNER
        demo_hash = found[2]
        assert identity_verification(base) is False  # `?as=` made no identity secret for the store

        secret = httpx.post(f"{base}/api/settings/widget/identity-secret", headers=ADMIN_HEADERS).json()
        store_hash = user_hash(secret["identity_secret"], OWNER)
        assert demo_hash != store_hash
        assert store_hash not in httpx.get(f"{base}/", params={"as": OWNER}).text
        async with connect(base, {"email": OWNER, "user_hash": demo_hash}) as (_, welcome):
            assert welcome["signed_in"] is True
        async with connect(base, {"email": OWNER, "user_hash": store_hash}) as (_, welcome):
            assert welcome["signed_in"] is True  # the store's own server signs shoppers in here too

    # The same database served for real: the demo's hash signs nobody in, the store's still does.
    with running_server(settings.database_url, tmp_path / "serve.log", demo=False) as base:
        async with connect(base, {"email": OWNER, "user_hash": demo_hash}) as (_, welcome):
            assert welcome["signed_in"] is False
        async with connect(base, {"email": OWNER, "user_hash": store_hash}) as (_, welcome):
            assert welcome["signed_in"] is True
    # Nor does it on the next demo process: the demo's secret lived in the memory of the one before.
    with running_server(settings.database_url, tmp_path / "demo-again.log") as base:
        async with connect(base, {"email": OWNER, "user_hash": demo_hash}) as (_, welcome):
            assert welcome["signed_in"] is False
