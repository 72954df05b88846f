"""What every HTTP request passes before a route may read its body: a size limit kept while the body streams in, and
the route's sign-in check.

FastAPI reads and parses a route's JSON body before it runs the route's dependencies, so a signed-out caller could
make the server hold and parse anything it sent before being told 401. Here the body is handed to a route only once
the route's guard (`require_agent` / `require_admin`) has passed, and never more of it than the limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontdesk.users.access import require_admin, require_agent

GUARDS = (require_agent, require_admin)


class BodyTooLarge(HTTPException):
    """Raised by the guarded `receive` as soon as the bytes received pass the limit: the route answers 413 (FastAPI's
    error handler renders it), and the rest of the body is never read."""

    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, f"the request body is larger than {size(limit)}")


def size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // 1024 // 1024} MB"
    if count >= 1000 * 1000 and count % (1000 * 1000) == 0:
        return f"{count // 1000 // 1000} MB"
    return f"{count:,} bytes"


class RequestBodyGuard:
    """Pure ASGI middleware (nothing buffered): `limit` bytes for any route's body, `larger` for the paths named
    there (uploads). A declared Content-Length over the limit is refused before the app runs; a chunked body is
    counted as it arrives and refused at the first byte past the limit. The first read of a body runs the matched
    route's guards first, so a caller who may not use the route is refused (401/403) before any of it is read."""

    def __init__(self, app: ASGIApp, limit: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(BodyTooLarge(limit), scope, receive, send)
            return
        received = 0
        authenticated = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, authenticated
            if not authenticated:
                authenticated = True
                await _run_guards(scope)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, watched_send)
        except HTTPException as refused:  # raised by guarded_receive where no route's handler could answer it
            if started:
                raise
            await _refuse(refused, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(refused: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": refused.detail}, refused.status_code, headers=refused.headers)
    await response(scope, receive, send)


async def _run_guards(scope: Scope) -> None:
    """The matched route's sign-in checks; each caches who is asking on the request, so the route's own run of them
    (as FastAPI dependencies, after the body is read) asks the database nothing more."""
    dependant: Dependant | None = getattr(scope.get("route"), "dependant", None)
    if dependant is None:
        return
    request = Request(scope)
    for guard in _guards_of(dependant):
        await guard(request)


def _guards_of(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        if dependency.call in GUARDS:
            yield dependency.call
        else:
            yield from _guards_of(dependency)
