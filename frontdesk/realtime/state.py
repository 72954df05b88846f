"""What the serving processes share besides events: token buckets, leased memberships and expiring counters.

`MemoryState` keeps them in this process (one `serve`, the default); `realtime.redis_backend.RedisState` keeps them
in Redis, so that a limit, a lockout, who is online and who is connected hold across every process. Times are
seconds on the caller's clock (`now`), so tests can move time; with Redis every process must use wall-clock time.
"""

from __future__ import annotations

from typing import Protocol

from frontdesk.token_bucket import TokenBucket

#: Keys one process keeps in memory; past it the oldest are forgotten first (buckets refill, counters expire).
MAX_KEYS = 100_000


class SharedState(Protocol):
    async def take(self, key: str, capacity: float, per_second: float, now: float) -> float:
        """Take a token from the bucket `key`: 0.0 when taken, else the seconds until one is there."""
        ...

    async def give(self, key: str, capacity: float) -> None:
        """Put a token back (never above `capacity`)."""
        ...

    async def join(self, key: str, member: str, limit: int | None = None) -> bool:
        """Add `member` to the set `key` while this process lives; False (and nothing added) when `limit` are in."""
        ...

    async def leave(self, key: str, member: str) -> None: ...

    async def members(self, key: str) -> set[str]: ...

    async def incr(self, key: str, now: float, ttl: float) -> int:
        """Count one more in `key`, which is forgotten `ttl` seconds after its last count."""
        ...

    async def get(self, key: str, now: float) -> str | None: ...

    async def put(self, key: str, value: str, now: float, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...


class MemoryState:
    """The shared state of a single process."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._sets: dict[str, set[str]] = {}
        self._values: dict[str, tuple[str, float]] = {}  # key → (value, expires at)

    async def take(self, key: str, capacity: float, per_second: float, now: float) -> float:
        bucket = self._buckets.pop(key, None) or TokenBucket(capacity, per_second, capacity, now)
        wait = bucket.wait(now)
        if wait == 0.0:
            bucket.take(now)
        self._buckets[key] = bucket  # re-inserted: the least recently used come first
        while len(self._buckets) > MAX_KEYS:
            del self._buckets[next(iter(self._buckets))]
        return wait

    async def give(self, key: str, capacity: float) -> None:
        if key in self._buckets:
            bucket = self._buckets[key]
            bucket.tokens = min(capacity, bucket.tokens + 1)

    async def join(self, key: str, member: str, limit: int | None = None) -> bool:
        current = self._sets.setdefault(key, set())
        if limit is not None and len(current) >= limit:
            if not current:
                del self._sets[key]
            return False
        current.add(member)
        return True

    async def leave(self, key: str, member: str) -> None:
        current = self._sets.get(key)
        if current is not None:
            current.discard(member)
            if not current:
                del self._sets[key]

    async def members(self, key: str) -> set[str]:
        return set(self._sets.get(key, ()))

    async def incr(self, key: str, now: float, ttl: float) -> int:
        value = await self.get(key, now)
        count = int(value) + 1 if value is not None else 1
        await self.put(key, str(count), now, ttl)
        return count

    async def get(self, key: str, now: float) -> str | None:
        found = self._values.get(key)
        if found is None:
            return None
        if found[1] <= now:
            del self._values[key]
            return None
        return found[0]

    async def put(self, key: str, value: str, now: float, ttl: float) -> None:
        self._values.pop(key, None)
        self._values[key] = (value, now + ttl)
        while len(self._values) > MAX_KEYS:
            del self._values[next(iter(self._values))]

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)
        self._buckets.pop(key, None)
