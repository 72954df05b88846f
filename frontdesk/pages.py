"""The HTML pages' plumbing: Jinja templates (autoescaped) and the /static files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from starlette.templating import Jinja2Templates

HERE = Path(__file__).parent
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True))


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200, **kwargs: Any
) -> Response:
    """A page, with who is signed in (`principal`) and their `csrf_token` for forms and scripts."""
    # Set by users.access.principal_of when the route asked who is signed in.
    principal = getattr(request.state, "principal", None)
    full = {"principal": principal, "csrf_token": principal.csrf_token if principal else None, **(context or {})}
    return templates.TemplateResponse(request, name, full, status_code=status, **kwargs)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
