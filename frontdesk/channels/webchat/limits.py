"""Rate limits for the web chat: token buckets per visitor and per IP address, on an injected clock.

The buckets and the open sockets live in the shared state (`realtime.state`): this process's memory, or Redis, where
a limit holds across every serving process (a bucket is refilled and taken by one atomic Lua script).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from frontdesk.config import Settings
from frontdesk.realtime.state import MemoryState, SharedState


@dataclass
class RateLimiter:
    """`per_minute` sustained with bursts up to `burst`, per key."""

    name: str
    per_minute: int
    burst: int
    clock: Callable[[], float]
    shared: SharedState

    async def allow(self, key: str) -> bool:
        wait = await self.shared.take(f"limit:{self.name}:{key}", self.burst, self.per_minute / 60, self.clock())
        return wait == 0


@dataclass
class OpenSockets:
    """How many web chat connections each address has open; past `per_ip`, a new one is refused."""

    per_ip: int
    shared: SharedState

    async def open(self, ip: str) -> str | None:
        """The socket's handle, or None when the address has `per_ip` open already."""
        handle = uuid.uuid4().hex
        return handle if await self.shared.join(f"sockets:{ip}", handle, self.per_ip) else None

    async def close(self, ip: str, handle: str) -> None:
        await self.shared.leave(f"sockets:{ip}", handle)


@dataclass
class WebchatLimits:
    """The limits of the web chat protocol ("Limits" in docs/webchat-protocol.md)."""

    visitor_messages: RateLimiter
    ip_messages: RateLimiter
    ip_conversations: RateLimiter
    sockets: OpenSockets

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Callable[[], float], shared: SharedState | None = None
    ) -> WebchatLimits:
        shared = shared or MemoryState()
        return cls(
            visitor_messages=RateLimiter("visitor-messages", settings.rate_messages_per_minute, 5, clock, shared),
            ip_messages=RateLimiter("ip-messages", settings.rate_ip_messages_per_minute, 20, clock, shared),
            ip_conversations=RateLimiter(
                "ip-conversations", settings.rate_ip_conversations_per_minute, 10, clock, shared
            ),
            sockets=OpenSockets(settings.max_chats_per_ip, shared),
        )
