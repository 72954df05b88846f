"""What the helpdesk fakes share: uvicorn in a background thread, a request log, rate limits and faults on demand.

A fault is decided for each request before the fake API sees it, so a failed request changes nothing, unless the
fault is asked to strike after the write committed (``after_commit``): the ticket exists but the client hears a
5xx, silence or a reset, which is the case a client's idempotency key and its look-up-before-retry exist for.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import uvicorn
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.server import free_port

FaultKind = Literal["5xx", "429", "timeout", "reset", "slow"]
Clock = Callable[[], float]


@dataclass(frozen=True)
class FaultRates:
    """Probability, per request, of each fault; drawn from the fake's seeded random so a run can be replayed.

    ``after_commit`` is the share of 5xx, timeout and reset faults that strike after the request was carried out.
    """

    server_error: float = 0.0
    rate_limited: float = 0.0
    timeout: float = 0.0
    reset: float = 0.0
    slow: float = 0.0
    after_commit: float = 0.0

    def draw(self, rng: random.Random) -> Fault | None:
        roll = rng.random()
        for kind, rate in (
            ("5xx", self.server_error),
            ("429", self.rate_limited),
            ("timeout", self.timeout),
            ("reset", self.reset),
            ("slow", self.slow),
        ):
            if roll < rate:
                committed = kind in ("5xx", "timeout", "reset") and rng.random() < self.after_commit
                return Fault(kind, after_commit=committed)  # type: ignore[arg-type]  # kinds listed above
            roll -= rate
        return None


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    after_commit: bool = False


@dataclass
class _FaultOrder:
    fault: Fault
    remaining: int
    method: str | None
    path: str | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or path.startswith(self.path))


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    status: int | None = None  # None when the fake answered nothing (timeout, reset)
    fault: Fault | None = None

    def json(self) -> Any:
        return json.loads(self.body)


class FixedWindowLimit:
    """Zendesk's rule: so many requests per clock minute, then 429 until the minute ends."""

    def __init__(self, per_window: int, window: float = 60.0) -> None:
        self.per_window = per_window
        self.window = window
        self._window_index = -1
        self._used = 0

    def take(self, now: float) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds until the window resets)."""
        index = math.floor(now / self.window)
        if index != self._window_index:
            self._window_index, self._used = index, 0
        reset_in = max(1, math.ceil((index + 1) * self.window - now))
        if self._used >= self.per_window:
            return False, 0, reset_in
        self._used += 1
        return True, self.per_window - self._used, reset_in


class LeakyBucket:
    """Gorgias's rule: a bucket of ``capacity`` calls that drains completely in ``window`` seconds."""

    def __init__(self, capacity: int, window: float) -> None:
        self.capacity = capacity
        self.drain_per_second = capacity / window
        self._level = 0.0
        self._at: float | None = None

    def take(self, now: float) -> tuple[bool, int, int]:
        """(allowed, calls in the bucket, seconds until one more call fits)."""
        if self._at is not None:
            self._level = max(0.0, self._level - (now - self._at) * self.drain_per_second)
        self._at = now
        if self._level + 1 > self.capacity:
            wait = (self._level + 1 - self.capacity) / self.drain_per_second
            return False, math.ceil(self._level), max(1, math.ceil(wait))
        self._level += 1
        return True, math.ceil(self._level), 0


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The (user, password) of an ``Authorization: Basic`` header, or None when there is none or it is malformed."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


class FakeHttpServer:
    """A Starlette app served on 127.0.0.1 from a thread of its own, so sync tests, asyncio tests and a separate
    ``frontdesk serve`` process can all call it. Subclasses build the app and say how they answer 5xx and 429."""

    def __init__(
        self,
        *,
        port: int | None = None,
        faults: FaultRates | None = None,
        seed: int = 0,
        timeout_hold: float = 30.0,
        slow_delay: float = 2.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.fault_rates = faults or FaultRates()
        self.timeout_hold = timeout_hold
        self.slow_delay = slow_delay
        self.clock = clock
        self._rng = random.Random(seed)
        # The server thread writes and test threads read; every piece of state goes through this lock.
        self._lock = threading.RLock()
        self._orders: list[_FaultOrder] = []
        self._log: list[LoggedRequest] = []
        self._in_flight = 0
        self.most_in_flight = 0  # the most requests the fake was answering at one time
        self._app = self.build_app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # -- what subclasses provide

    def build_app(self) -> ASGIApp:
        raise NotImplementedError

    def server_error_response(self) -> Response:
        return PlainTextResponse("Internal Server Error", status_code=500)

    def rate_limited_response(self, retry_after: int) -> Response:
        return PlainTextResponse("Too Many Requests", status_code=429, headers={"Retry-After": str(retry_after)})

    # -- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_template(self) -> str:
        """What ``FRONTDESK_*_URL_TEMPLATE`` is set to: it has no ``{subdomain}``/``{domain}``, so every account lands
        here."""
        return self.base_url

    def start(self) -> None:
        """Serve, and return once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        config = uvicorn.Config(
            self._asgi,
            host="127.0.0.1",
            port=self.port,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread = None
                raise RuntimeError(f"{type(self).__name__} did not start on port {self.port}")
            time.sleep(0.005)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass

    def stop(self) -> None:
        """Release held requests and shut down; the same port can be started again (an outage, then recovery)."""
        if self._thread is None or self._server is None:
            return
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                self._loop.call_soon_threadsafe(self._stopping.set)
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._thread = None
        self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._server is not None
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run(self._server))
        finally:
            loop.close()
            self._loop = None

    async def _run(self, server: uvicorn.Server) -> None:
        self._stopping = asyncio.Event()
        await server.serve()

    # -- faults

    def fail_next(
        self,
        kind: FaultKind,
        n: int = 1,
        *,
        after_commit: bool = False,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Make the next ``n`` requests (matching ``method`` and a ``path`` prefix, if given) fail with ``kind``.

        ``after_commit`` carries the request out before failing it (5xx, timeout and reset only)."""
        if after_commit and kind not in ("5xx", "timeout", "reset"):
            raise ValueError(f"a {kind} fault cannot strike after the commit")
        with self._lock:
            self._orders.append(_FaultOrder(Fault(kind, after_commit), n, method, path))

    def _draw_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for order in self._orders:
                if order.matches(method, path):
                    order.remaining -= 1
                    if order.remaining <= 0:
                        self._orders.remove(order)
                    return order.fault
            return self.fault_rates.draw(self._rng)

    # -- the request log

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def requests_to(self, method: str, path: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # -- the ASGI layer that logs and injects faults around the fake API

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        entry = LoggedRequest(scope["method"], scope["path"], scope["query_string"].decode(), headers, body)
        fault = self._draw_fault(entry.method, entry.path)
        entry.fault = fault
        with self._lock:
            self._log.append(entry)
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            await self._answer(scope, receive, send, entry, body, fault)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, entry: LoggedRequest, body: bytes, fault: Fault | None
    ) -> None:

        replayed = False

        async def replay_body() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        async def swallow(message: Message) -> None:
            pass

        if fault is None:
            await self._app(scope, replay_body, send_logged)
            return
        if fault.kind == "slow":
            await self._sleep(self.slow_delay)
            await self._app(scope, replay_body, send_logged)
            return
        if fault.kind == "429":
            await self.rate_limited_response(1)(scope, replay_body, send_logged)
            return
        if fault.after_commit:
            await self._app(scope, replay_body, swallow)
        if fault.kind == "5xx":
            await self.server_error_response()(scope, replay_body, send_logged)
        elif fault.kind == "timeout":
            await self._sleep(self.timeout_hold)
            await PlainTextResponse("Gateway Timeout", status_code=504)(scope, replay_body, send_logged)
        else:
            await _reset_connection(receive, send)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake when the fake stops so a held request does not hold up shutdown."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _reset_connection(receive: Receive, send: Send) -> None:
    """Drop the TCP connection with a RST and no answer at all.

    ASGI has no verb for this, so it reaches the socket through uvicorn's request cycle (the owner of ``send``);
    SO_LINGER 0 turns the close into a reset, which httpx reports as a read error rather than a clean EOF.
    """
    transport: asyncio.Transport | None = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("cannot reach the connection's transport: is this served by uvicorn?")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Wait until uvicorn has seen the connection go, or it would log that the app never answered.
    while (await receive())["type"] != "http.disconnect":
        pass


@dataclass
class Counter:
    """Ids handed out in order, as the real services do (tests can predict them)."""

    next_id: int
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> int:
        with self._lock:
            value = self.next_id
            self.next_id += 1
            return value
