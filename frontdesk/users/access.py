"""Who makes a request, and what they may do: the session cookie's user or the API token, roles, CSRF tokens;
the FastAPI dependencies routes and pages ask for (`require_agent`, `require_admin`, `agent_page`, `admin_page`)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse

from frontdesk.config import MIN_API_TOKEN_CHARS, Settings
from frontdesk.db import Database
from frontdesk.deps import now_of
from frontdesk.pages import render
from frontdesk.users import service as users

SESSION_COOKIE = users.COOKIE
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_NEEDED = "this needs the admin role"


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a signed-in user, or the API token (an admin with no user, and no CSRF token)."""

    user_id: int | None
    email: str
    role: str
    name: str
    csrf_token: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may(self, role: str) -> bool:
        return self.is_admin or self.role == role


API_TOKEN_PRINCIPAL = Principal(user_id=None, email="api-token", role="admin", name="API token", csrf_token=None)


def _bearer_matches(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    if settings.api_token is None:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given, expected = given.strip(), settings.api_token.get_secret_value()
    # Settings refuses a short token; this also holds for one that bypassed it, so "Bearer " never matches "".
    if not given or len(expected) < MIN_API_TOKEN_CHARS:
        return False
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), expected.encode())


async def principal_of(request: Request) -> Principal | None:
    """The API token's principal or the session cookie's user; None when neither holds. Cached on the request."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal: Principal | None = None
    if _bearer_matches(request):
        principal = API_TOKEN_PRINCIPAL
    elif token := request.cookies.get(SESSION_COOKIE):
        database: Database = request.app.state.database
        # A session of its own, closed before the route runs: SQLite has one pooled connection to share.
        async with database.session() as session:
            found = await users.session_of(session, token, now_of(request))
        if found:
            user, user_session = found
            principal = Principal(user.id, user.email, user.role, user.name, user_session.csrf_token)
    request.state.principal = principal
    return principal


def csrf_matches(principal: Principal, given: str | None) -> bool:
    # An empty token on either side never matches, even another empty one.
    expected = principal.csrf_token or ""
    return bool(expected) and bool(given) and hmac.compare_digest((given or "").encode(), expected.encode())


async def _require(request: Request, role: str) -> Principal:
    principal = await principal_of(request)
    if principal is None:
        headers = {"WWW-Authenticate": "Bearer"} if request.headers.get("authorization") else None
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first", headers=headers)
    if not principal.may(role):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, ADMIN_NEEDED if role == "admin" else f"this needs the {role} role"
        )
    # A cookie is sent by the browser whatever page asks; the token proves the request comes from our own pages.
    if (
        principal.user_id is not None
        and request.method in UNSAFE_METHODS
        and not csrf_matches(principal, request.headers.get(CSRF_HEADER))
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    return principal


async def require_agent(request: Request) -> Principal:
    """Any signed-in member of the team (an admin too), or the API token."""
    return await _require(request, "agent")


async def require_admin(request: Request) -> Principal:
    return await _require(request, "admin")


class PageRefused(Exception):
    """An HTML page its visitor may not see: `response` (to the sign-in form, or the 403 page) goes out instead.
    The app turns it into that response (app.py), so pages depend on `agent_page` / `admin_page` like the API does
    on `require_agent` / `require_admin`."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def page_user(request: Request, role: str) -> Principal:
    """The signed-in user of an HTML page; raises PageRefused with the sign-in redirect (303) when signed out, or a
    403 page when the role is missing."""
    principal = await principal_of(request)
    if principal is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise PageRefused(RedirectResponse(f"/signin?next={quote(path, safe='/')}", status.HTTP_303_SEE_OTHER))
    if not principal.may(role):
        raise PageRefused(
            render(
                request,
                "base.html",
                {
                    "heading": "Not for your role",
                    "message": f"This page needs the {role} role. Ask an admin of the store.",
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        )
    return principal


async def agent_page(request: Request) -> Principal:
    return await page_user(request, "agent")


async def admin_page(request: Request) -> Principal:
    return await page_user(request, "admin")
