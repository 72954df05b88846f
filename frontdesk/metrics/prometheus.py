"""The Prometheus exporter (`GET /metrics`): what this process did, and what the outbox holds.

Counters and histograms are this process's own (scrape every process; sum them). The outbox figures are read from
the database at each scrape, so every process reports the same, cluster-wide values (take the max, not the sum).
Each app has its own registry: nothing module-level to reset between tests.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: (status, target, kind) → rows, and the oldest pending row's creation time.
OutboxFigures = tuple[dict[tuple[str, str, str], int], datetime | None]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AUTHORS = frozenset({"shopper", "ai", "agent", "system"})
DECISIONS = frozenset({"answer", "unknown", "human_requested", "small_talk"})


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "frontdesk_messages",
            "Conversation messages stored by this process, by author",
            ["author"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "frontdesk_decisions", "Decisions of the answer engine, by kind", ["kind"], registry=self.registry
        )
        self.decide_seconds = Histogram(
            "frontdesk_decide_seconds",
            "Time the answer engine takes for a message",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "frontdesk_webchat_turn_seconds",
            "From a shopper's web chat message received to its replies published",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "frontdesk_http_request_seconds",
            "HTTP requests, by method and status class",
            ["method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.websockets = Gauge(
            "frontdesk_websocket_connections",
            "Open WebSocket connections on this process",
            ["socket"],
            registry=self.registry,
        )
        self.outbox_rows = Gauge(
            "frontdesk_outbox_rows",
            "Outbox rows by status (pending = depth; delivered, dead, skipped = deliveries by result), target and kind",
            ["status", "target", "kind"],
            registry=self.registry,
        )
        self.handoffs = Gauge(
            "frontdesk_handoffs",
            "Handoffs recorded (outbox rows of kind handoff), by method",
            ["method"],
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "frontdesk_outbox_oldest_pending_seconds",
            "Age of the oldest pending outbox row (0 when none)",
            registry=self.registry,
        )

    def message(self, event: dict[str, Any]) -> None:
        if event.get("type") == "message" and event.get("author") in AUTHORS:
            self.messages.labels(event["author"]).inc()

    def decided(self, decision: object, seconds: float) -> None:
        """A decision of the answer engine (Answer, Unknown, HumanRequested, SmallTalk) and its time."""
        kind = re.sub(r"(?<!^)([A-Z])", r"_\1", type(decision).__name__).lower()
        self.decisions.labels(kind if kind in DECISIONS else "other").inc()
        self.decide_seconds.observe(seconds)

    async def render(self, outbox: Callable[[], Awaitable[OutboxFigures]], now: datetime) -> bytes:
        counts, oldest = await outbox()
        self.outbox_rows.clear()
        self.handoffs.clear()
        for (status, target, kind), rows in counts.items():
            self.outbox_rows.labels(status, target, kind).set(rows)
            if kind == "handoff":
                self.handoffs.labels(target).inc(rows)
        self.outbox_oldest.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        return generate_latest(self.registry)


def token_matches(authorization: str | None, token: str | None) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time; no token configured opens nothing."""
    if not token or not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization.removeprefix("Bearer ").strip().encode(), token.encode())


class ObservedBus:
    """The event bus, counting the messages this process publishes."""

    def __init__(self, bus: Any, telemetry: Telemetry) -> None:
        self._bus = bus
        self._telemetry = telemetry

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        self._telemetry.message(event)
        await self._bus.publish(topic, event)

    def subscribe(self, topic: str) -> Any:
        return self._bus.subscribe(topic)


class RequestTimer:
    """Pure ASGI: each HTTP request's duration, by method and status class (2xx…), nothing from the path."""

    def __init__(self, app: Any, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.telemetry.http_seconds.labels(
                scope["method"] if scope["method"] in METHODS else "other", f"{status['code'] // 100}xx"
            ).observe(time.perf_counter() - started)


METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
CONTENT_TYPE = CONTENT_TYPE_LATEST
