"""Signing in and out (HTML forms), who is signed in (/api/me), and the team's list (/api/users)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.config import Settings
from frontdesk.deps import get_session, get_settings, now_of
from frontdesk.pages import render
from frontdesk.users import service
from frontdesk.users.access import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Principal,
    csrf_matches,
    principal_of,
    require_admin,
    require_agent,
)
from frontdesk.users.schemas import PrincipalOut, UserOut

router = APIRouter(tags=["users"])
Session = Annotated[AsyncSession, Depends(get_session)]
LOGIN_CSRF_COOKIE = "frontdesk_csrf"
DEFAULT_PAGE = "/inbox"


def safe_next(target: str | None) -> str:
    """Only a path of this site: "//host" and "/\\host" are read by browsers as another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return DEFAULT_PAGE
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return DEFAULT_PAGE
    return target


def _signin_page(
    request: Request, login_csrf: str, next_page: str, email: str = "", error: str | None = None, status: int = 200
) -> Response:
    page = render(
        request, "signin.html", {"login_csrf": login_csrf, "next": next_page, "email": email, "error": error}, status
    )
    # Double submit: a page on another site can post the form but can neither read nor set this cookie.
    page.set_cookie(
        LOGIN_CSRF_COOKIE, login_csrf, httponly=True, samesite="strict", path="/signin", secure=_secure(request)
    )
    page.headers["Cache-Control"] = "no-store"
    return page


def _secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.public_url.startswith("https")


def _login_csrf(request: Request) -> str:
    # The cookie is kept across page loads, so that two open sign-in tabs both work.
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return current if len(current) >= 32 else secrets.token_urlsafe(32)


@router.get("/signin", include_in_schema=False)
async def signin_form(request: Request, next: str | None = None) -> Response:
    if await principal_of(request) is not None:
        return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    return _signin_page(request, _login_csrf(request), safe_next(next))


@router.post("/signin", include_in_schema=False)
async def signin(
    request: Request,
    session: Session,
    settings: Annotated[Settings, Depends(get_settings)],
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = DEFAULT_PAGE,
) -> Response:
    next_page = safe_next(next)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return _signin_page(
            request,
            secrets.token_urlsafe(32),
            next_page,
            email,
            "The sign-in form expired. Please enter your password again.",
            status.HTTP_400_BAD_REQUEST,
        )
    try:
        ip = request.client.host if request.client else "unknown"
        user = await service.authenticate(session, request.app.state.sign_ins, email, password, ip, now_of(request))
    except service.SignInRefused as refused:
        code = status.HTTP_400_BAD_REQUEST if refused.retry_after_seconds is None else status.HTTP_429_TOO_MANY_REQUESTS
        page = _signin_page(request, cookie, next_page, email, refused.message, code)
        if refused.retry_after_seconds is not None:
            page.headers["Retry-After"] = str(refused.retry_after_seconds)
        return page
    token = await service.start_session(session, user, now_of(request))
    response = RedirectResponse(next_page, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(service.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        path="/",
        secure=settings.public_url.startswith("https"),
    )
    return response


@router.post("/signout", include_in_schema=False)
async def signout(request: Request, session: Session) -> Response:
    """Ends the session on the server, not only in this browser: the old cookie signs nobody in afterwards."""
    principal = await principal_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if principal is not None and principal.user_id is not None and token:
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            form = await request.form()
            field = form.get("csrf_token")
            given = field if isinstance(field, str) else None
        if not csrf_matches(principal, given):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
        await service.end_session(session, token)
    response = RedirectResponse("/signin", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return response


@router.get("/api/me", response_model=PrincipalOut)
async def me(principal: Annotated[Principal, Depends(require_agent)]) -> PrincipalOut:
    """Who is signed in, and the CSRF token that the page's script sends back in X-CSRF-Token."""
    return PrincipalOut(
        user_id=principal.user_id,
        email=principal.email,
        name=principal.name,
        role=principal.role,
        csrf_token=principal.csrf_token,
    )


@router.get("/api/users", response_model=list[UserOut], dependencies=[Depends(require_admin)])
async def users(session: Session) -> list[UserOut]:
    return [UserOut.model_validate(user) for user in await service.list_users(session)]
