"""What every response tells the browser (CSP, framing, sniffing, referrer), and the API docs served with no CDN.
The pages working under them, in Chromium: tests/webchat/test_pages_under_csp.py."""

from __future__ import annotations

import re

import httpx
import pytest

from frontdesk.security_headers import INLINE_STYLES

OUR_PAGES = ["/signin", "/console/overview", "/inbox", "/healthz", "/api/knowledge", "/widget.js", "/nowhere"]


def directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split("; ")}


@pytest.mark.parametrize("path", OUR_PAGES)
async def test_every_response_forbids_framing_sniffing_and_foreign_script(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    policy = directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"


async def test_the_shoppers_chat_page_allows_inline_styles_but_no_inline_script(client: httpx.AsyncClient) -> None:
    response = await client.get("/chat")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == INLINE_STYLES
    policy = directives(INLINE_STYLES)
    assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert "<script>" not in response.text


async def test_the_chat_page_keeps_its_own_stricter_referrer_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/chat?resume=secret-link")
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_the_api_docs_load_nothing_from_another_site(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs", headers={"Authorization": ""})
    assert page.status_code == 200
    assert "https://" not in page.text and "http://" not in page.text
    assert "<script>" not in page.text
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        loaded = await client.get(asset)
        assert loaded.status_code == 200, asset
        assert loaded.headers["content-type"].startswith(("text/css", "text/javascript", "application/javascript"))
    assert (await client.get("/redoc")).status_code == 404


async def test_the_openapi_document_is_open_without_signing_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200
    assert "/api/knowledge" in response.json()["paths"]
