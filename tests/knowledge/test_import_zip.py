"""POST /api/knowledge/import with a .zip: how a browser sends a folder of pages, or a sitemap with its saved pages."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from frontdesk.knowledge import importers


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


async def import_zip(client: httpx.AsyncClient, name: str, content: bytes) -> httpx.Response:
    return await client.post("/api/knowledge/import", params={"filename": name}, content=content)


async def test_zipped_pages_folder_imports_each_page_and_names_a_skipped_one_by_its_path(
    client: httpx.AsyncClient,
) -> None:
    content = zipped(
        {
            "help/shipping.md": "# Shipping\n\nWe ship worldwide in 5 days.\n",
            "help/guides/care.html": "<title>Caring for mugs</title><p>Hand wash only.</p>",
            "help/guides/empty.md": "",
        }
    )
    response = await import_zip(client, "help.zip", content)

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["imported"], report["skipped"]) == (2, 1)
    assert [(p["file"], p["reason"]) for p in report["problems"]] == [("guides/empty.md", "the file is empty")]
    titles = sorted(
        e["title"] for e in (await client.get("/api/knowledge", params={"kind": "article"})).json()["items"]
    )
    assert titles == ["Caring for mugs", "Shipping"]


async def test_zipped_sitemap_imports_its_saved_pages_with_their_urls(client: httpx.AsyncClient) -> None:
    content = zipped(
        {
            "sitemap.xml": "<urlset><url><loc>https://shop.example/pages/returns</loc></url>"
            "<url><loc>https://shop.example/pages/gone</loc></url></urlset>",
            "pages/returns.html": "<title>Returns</title><p>Return anything within 30 days.</p>",
        }
    )
    response = await import_zip(client, "site.zip", content)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 1
    assert [(p["file"], p["reason"]) for p in report["problems"]] == [
        ("sitemap.xml", "no saved page for https://shop.example/pages/gone")
    ]
    entry = (await client.get("/api/knowledge", params={"q": "Returns"})).json()["items"][0]
    assert entry["url"] == "https://shop.example/pages/returns"


async def test_zip_with_a_name_leaving_the_archive_is_refused_and_writes_nothing(client: httpx.AsyncClient) -> None:
    content = zipped({"pages/ok.md": "# Fine\n\nA page.\n", "../escape.md": "# Out\n\nGot out.\n"})
    response = await import_zip(client, "pages.zip", content)

    assert response.status_code == 422
    assert "points outside the archive" in response.json()["detail"]
    assert (await client.get("/api/knowledge")).json()["total"] == 0


async def test_file_named_zip_that_is_not_one_says_so(client: httpx.AsyncClient) -> None:
    response = await import_zip(client, "pages.zip", b"question,answer\nA?,B.\n")

    assert response.status_code == 422
    assert "pages.zip: not a readable .zip file" in response.json()["detail"]


async def test_zip_without_pages_says_what_it_expected(client: httpx.AsyncClient) -> None:
    response = await import_zip(client, "photos.zip", zipped({"photo.jpg": "not really"}))

    assert response.status_code == 422
    assert "no .md, .markdown, .html or .htm files" in response.json()["detail"]
    assert "/tmp" not in response.json()["detail"]


async def test_a_zip_bomb_is_refused_before_it_is_unpacked(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importers, "ZIP_MAX_BYTES", 1024 * 1024)  # the real one is 500 MB: same check, smaller bomb
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pages/zeros.md", "0" * (3 * 1024 * 1024))  # 3 MB of zeros deflate to a few kB
    assert len(buffer.getvalue()) < 20_000
    response = await import_zip(client, "pages.zip", buffer.getvalue())

    assert response.status_code == 422
    assert response.json()["detail"] == "pages.zip unpacks to more than 1 MB"
    assert (await client.get("/api/knowledge")).json()["total"] == 0


async def test_a_sitemap_with_entities_in_a_zip_is_refused(client: httpx.AsyncClient) -> None:
    laughs = (
        '<?xml version="1.0"?>\n<!DOCTYPE urlset [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<urlset><url><loc>&xxe;&lol2;</loc></url></urlset>\n'
    )
    response = await import_zip(client, "site.zip", zipped({"sitemap.xml": laughs, "pages/a.html": "<p>hi</p>"}))

    assert response.status_code == 422
    assert "a DOCTYPE is not allowed in a sitemap" in response.json()["detail"]
    assert "root:" not in response.text
    assert (await client.get("/api/knowledge")).json()["total"] == 0
