"""Rate limits for the web chat: token buckets per visitor and per IP address, on an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from frontdesk.config import Settings
from frontdesk.token_bucket import TokenBucket

MAX_KEYS = 100_000


@dataclass
class RateLimiter:
    """`per_minute` sustained with bursts up to `burst`, per key."""

    per_minute: int
    burst: int
    clock: Callable[[], float]
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def allow(self, key: str) -> bool:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._forget_full(now)
            bucket = self._buckets[key] = TokenBucket(self.burst, self.per_minute / 60, self.burst, now)
        return bucket.take(now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they hold no information."""
        for key in [k for k, b in self._buckets.items() if b.is_full(now)]:
            del self._buckets[key]


@dataclass
class OpenSockets:
    """How many web chat connections each address has open; past `per_ip`, a new one is refused."""

    per_ip: int
    _open: dict[str, int] = field(default_factory=dict)

    def open(self, ip: str) -> bool:
        count = self._open.get(ip, 0)
        if count >= self.per_ip:
            return False
        self._open[ip] = count + 1
        return True

    def close(self, ip: str) -> None:
        left = self._open.get(ip, 0) - 1
        if left > 0:
            self._open[ip] = left
        else:
            self._open.pop(ip, None)


@dataclass
class WebchatLimits:
    """The limits of the web chat protocol ("Limits" in docs/webchat-protocol.md)."""

    visitor_messages: RateLimiter
    ip_messages: RateLimiter
    ip_conversations: RateLimiter
    sockets: OpenSockets

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float]) -> WebchatLimits:
        return cls(
            visitor_messages=RateLimiter(settings.rate_messages_per_minute, 5, clock),
            ip_messages=RateLimiter(settings.rate_ip_messages_per_minute, 20, clock),
            ip_conversations=RateLimiter(settings.rate_ip_conversations_per_minute, 10, clock),
            sockets=OpenSockets(settings.max_chats_per_ip),
        )
