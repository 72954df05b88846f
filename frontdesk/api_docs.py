"""`/docs`: Swagger UI over /openapi.json, from the files the swagger-ui-bundle-v2 package ships (pinned in
pyproject.toml) and a start-up script of ours in /static: nothing from a CDN runs in the app's origin, and the page
needs no inline script. /openapi.json stays open without signing in (it names routes and shapes, never data)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from frontdesk.pages import render

ASSETS = "/docs/assets"


def mount_api_docs(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="api-docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def api_docs(request: Request) -> Response:
        return render(request, "api_docs.html", {"title": f"{app.title} API", "assets": ASSETS})
