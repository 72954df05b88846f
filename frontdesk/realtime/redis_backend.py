"""Redis (redis-py's asyncio client) behind the event bus and the shared state, when FRONTDESK_REDIS_URL is set.

Events travel on one pub/sub channel, each signed with a key derived from FRONTDESK_SECRET_KEY (the same on every
process): a payload that is too large, malformed or not signed by a frontdesk process is dropped, so whoever can
reach Redis still cannot make a shopper's chat show a message. Every process gets every event and hands it to the
subscribers it has (a conversation's connections are on one process or a few).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from frontdesk.realtime.bus import Event, EventBus, Subscription

log = logging.getLogger("frontdesk.realtime")

#: The largest event payload taken from Redis (a message event carries at most a few KB).
MAX_EVENT_BYTES = 256_000
MAX_TOPIC_CHARS = 200
#: A process's memberships (who is online, who is connected) expire this long after it stops refreshing them.
LEASE_SECONDS = 30.0
SIGNATURE_CHARS = 64


def connect(url: str) -> redis.Redis:
    return redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)


def process_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"frontdesk event bus\0" + secret).digest()

    def sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest().encode() + body

    def open(self, payload: bytes) -> bytes | None:
        if len(payload) > MAX_EVENT_BYTES or len(payload) <= SIGNATURE_CHARS:
            return None
        signature, body = payload[:SIGNATURE_CHARS], payload[SIGNATURE_CHARS:]
        expected = hmac.new(self._key, body, hashlib.sha256).hexdigest().encode()
        return body if hmac.compare_digest(signature, expected) else None


class RedisEventBus:
    """The event bus across processes. Local subscribers get a local event at once; the other processes through
    Redis. If the link to Redis breaks, every local subscriber is told to resynchronise from the database."""

    def __init__(self, client: redis.Redis, prefix: str, secret: bytes, origin: str) -> None:
        self._client = client
        self._channel = f"{prefix}events"
        self._signer = Signer(secret)
        self._origin = origin
        self._local = EventBus()
        self._reader: asyncio.Task[None] | None = None
        self.dropped = 0  # payloads refused (forged, malformed, too large): for the logs and the tests

    async def start(self) -> None:
        ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read(ready), name="redis-event-bus")
        await asyncio.wait_for(ready.wait(), 10)

    async def aclose(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def publish(self, topic: str, event: Event) -> None:
        await self._local.publish(topic, event)
        body = json.dumps({"o": self._origin, "t": topic, "e": event}, separators=(",", ":"), default=str).encode()
        try:
            await self._client.publish(self._channel, self._signer.sign(body))
        except RedisError:
            log.exception("could not publish an event on Redis: the other processes will read it from the database")

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        async with self._local.subscribe(topic) as subscription:
            yield subscription

    def deliver(self, payload: bytes) -> None:
        """Hand a payload read from Redis to this process's subscribers, or drop it."""
        body = self._signer.open(payload)
        try:
            message = json.loads(body) if body is not None else None
        except ValueError:
            message = None
        if not (isinstance(message, dict) and isinstance(message.get("t"), str) and isinstance(message.get("e"), dict)
                and len(message["t"]) <= MAX_TOPIC_CHARS):  # fmt: skip
            self.dropped += 1
            log.warning("dropped an event on Redis that no frontdesk process signed (or malformed)")
            return
        if message.get("o") == self._origin:
            return
        for subscription in list(self._local._subscribers.get(message["t"], ())):
            subscription.offer(message["e"])

    async def _read(self, ready: asyncio.Event) -> None:
        delay = 0.5
        first = True
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while True:  # the subscription is confirmed before anything is read or published
                    confirmed = await pubsub.get_message(timeout=5)
                    if confirmed and confirmed["type"] == "subscribe":
                        break
                if not first:
                    self._local.lose_all()
                first = False
                ready.set()
                delay = 0.5
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message and message["type"] == "message" and isinstance(message["data"], bytes):
                        self.deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("lost the Redis event bus; reconnecting in %.1f s", delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


_TAKE = """
local cap = tonumber(ARGV[1]); local rate = tonumber(ARGV[2]); local now = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens = tonumber(b[1]) or cap
local at = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'a', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(wait)
"""

_GIVE = """
local t = tonumber(redis.call('HGET', KEYS[1], 't'))
if t then redis.call('HSET', KEYS[1], 't', tostring(math.min(tonumber(ARGV[1]), t + 1))) end
return 0
"""

_JOIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local limit = tonumber(ARGV[4])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

_INCR = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
"""


class RedisState:
    """`realtime.state.SharedState` in Redis: a token bucket is one hash changed by a Lua script (atomic), a
    membership a sorted-set member whose score is its lease's end, renewed by this process while it lives."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._take = client.register_script(_TAKE)
        self._give = client.register_script(_GIVE)
        self._join = client.register_script(_JOIN)
        self._incr = client.register_script(_INCR)
        self._held: set[tuple[str, str]] = set()
        self._renewer: asyncio.Task[None] | None = None

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew(), name="redis-leases")

    async def aclose(self) -> None:
        if self._renewer:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        with contextlib.suppress(RedisError, OSError):
            for key, member in list(self._held):
                await self._client.zrem(self._key(key), member)

    async def take(self, key: str, capacity: float, per_second: float, now: float) -> float:
        forget = math.ceil(capacity / per_second) + 1 if per_second > 0 else 86_400
        return float(await self._take(keys=[self._key(key)], args=[capacity, per_second, now, forget]))

    async def give(self, key: str, capacity: float) -> None:
        await self._give(keys=[self._key(key)], args=[capacity])

    async def join(self, key: str, member: str, limit: int | None = None) -> bool:
        now = time.time()
        args = [now, now + LEASE_SECONDS, member, limit or 0, math.ceil(LEASE_SECONDS * 2)]
        joined = bool(await self._join(keys=[self._key(key)], args=args))
        if joined:
            self._held.add((key, member))
        return joined

    async def leave(self, key: str, member: str) -> None:
        self._held.discard((key, member))
        await self._client.zrem(self._key(key), member)

    async def members(self, key: str) -> set[str]:
        found = await self._client.zrangebyscore(self._key(key), time.time(), "+inf")
        return {m.decode() if isinstance(m, bytes) else str(m) for m in found}

    async def incr(self, key: str, now: float, ttl: float) -> int:
        return int(await self._incr(keys=[self._key(key)], args=[math.ceil(ttl * 1000)]))

    async def get(self, key: str, now: float) -> str | None:
        value = await self._client.get(self._key(key))
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, key: str, value: str, now: float, ttl: float) -> None:
        await self._client.set(self._key(key), value, px=max(1, math.ceil(ttl * 1000)))

    async def delete(self, key: str) -> None:
        await self._client.delete(self._key(key))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                until = time.time() + LEASE_SECONDS
                async with self._client.pipeline(transaction=False) as pipe:
                    for key, member in list(self._held):
                        pipe.zadd(self._key(key), {member: until}, xx=True)
                        pipe.expire(self._key(key), math.ceil(LEASE_SECONDS * 2))
                    await pipe.execute()
            except (RedisError, OSError):
                log.warning("could not renew this process's presence in Redis; trying again")


class Shared:
    """What `create_app` opens for several processes: the Redis client, the bus and the state."""

    def __init__(self, url: str, prefix: str, secret: bytes) -> None:
        self.client = connect(url)
        self.origin = process_id()
        self.bus = RedisEventBus(self.client, prefix, secret, self.origin)
        self.state = RedisState(self.client, prefix)

    async def start(self) -> None:
        await self.client.ping()
        await self.bus.start()
        await self.state.start()

    async def ping(self) -> Any:
        return await self.client.ping()

    async def aclose(self) -> None:
        await self.bus.aclose()
        await self.state.aclose()
        await self.client.aclose()
