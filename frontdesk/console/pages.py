"""What the console's pages share: paging and the layout's navigation (views.py makes every page the admin's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from frontdesk.pages import render

PAGE_SIZE = 25


@dataclass(frozen=True)
class Pager:
    """Where a page of a list (entries, conversations) sits among all that match."""

    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.size + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.size)


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
