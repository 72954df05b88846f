"""What every console page shares: the admin check and the layout's navigation."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from frontdesk.deps import Principal, page_user
from frontdesk.pages import render

# (path, label): the console's side navigation, in the order an admin meets the work.
NAVIGATION = [
    ("/console/overview", "Overview"),
    ("/console/conversations", "Conversations"),
    ("/console/gaps", "Knowledge gaps"),
    ("/console/knowledge", "Knowledge"),
    ("/console/playground", "Playground"),
    ("/console/settings/handoff", "Handoff"),
    ("/console/settings/widget", "Widget"),
    ("/console/integrations", "Integrations"),
]


async def admin(request: Request) -> Principal | Response:
    """The signed-in admin, or the response to send instead (sign-in redirect, 403 page)."""
    return await page_user(request, "admin")


def console_page(
    request: Request, template: str, title: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """A console page: `template` extends console/layout.html; `title` is its heading and the current nav item."""
    return render(
        request,
        template,
        {"title": title, "navigation": NAVIGATION, "current": request.url.path, **(context or {})},
        status=status,
    )
