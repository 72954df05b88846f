"""The Redis event bus and shared state against the real Redis: what one process publishes or counts, another sees;
what nobody signed is dropped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from frontdesk.realtime.bus import conversation_topic
from frontdesk.realtime.redis_backend import MAX_EVENT_BYTES, RedisState, Shared
from tests.realtime.conftest import REDIS_URL

SECRET = b"the same secret key on every process"


@pytest.fixture
async def two(redis_prefix: str) -> AsyncIterator[tuple[Shared, Shared]]:
    first, second = Shared(REDIS_URL, redis_prefix, SECRET), Shared(REDIS_URL, redis_prefix, SECRET)
    await first.start()
    await second.start()
    yield first, second
    await first.aclose()
    await second.aclose()


async def test_an_event_published_by_one_process_reaches_the_subscribers_of_another(two: tuple[Shared, Shared]) -> None:
    first, second = two
    async with second.bus.subscribe(conversation_topic("c1")) as subscription:
        await first.bus.publish(conversation_topic("c1"), {"type": "message", "seq": 3, "text": "hello"})
        event = await asyncio.wait_for(subscription.next(), 5)
    assert event == {"type": "message", "seq": 3, "text": "hello"}


async def test_a_forged_or_oversized_payload_on_the_channel_is_dropped(
    two: tuple[Shared, Shared], redis_client: redis.Redis, redis_prefix: str
) -> None:
    first, second = two
    channel = f"{redis_prefix}events"
    forged = json.dumps({"o": "x", "t": conversation_topic("c2"), "e": {"type": "message", "text": "click here"}})
    wrong_key = Shared(REDIS_URL, redis_prefix, b"another key").bus._signer.sign(forged.encode())
    async with second.bus.subscribe(conversation_topic("c2")) as subscription:
        await redis_client.publish(channel, forged)  # unsigned
        await redis_client.publish(channel, wrong_key)  # signed with another key
        await redis_client.publish(channel, b"0" * (MAX_EVENT_BYTES + 1))
        await redis_client.publish(channel, second.bus._signer.sign(b"[1, 2]"))  # signed but not an event
        await first.bus.publish(conversation_topic("c2"), {"type": "message", "text": "the real one"})
        event = await asyncio.wait_for(subscription.next(), 5)
        assert event["text"] == "the real one"
        assert subscription.queue.empty()
    assert second.bus.dropped == 4


async def test_a_token_bucket_is_shared_and_refills_on_the_callers_clock(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    first, second = RedisState(redis_client, redis_prefix), RedisState(redis_client, redis_prefix)
    taken = [await (first if n % 2 else second).take("bucket", 4, 1.0, 1000.0) for n in range(5)]
    assert taken[:4] == [0.0] * 4 and taken[4] == pytest.approx(1.0)
    assert await first.take("bucket", 4, 1.0, 1001.0) == 0.0  # a second later, one token is back
    await second.give("bucket", 4)
    assert await first.take("bucket", 4, 1.0, 1001.0) == 0.0


async def test_a_membership_limit_holds_across_processes_and_leaving_frees_a_place(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    first, second = RedisState(redis_client, redis_prefix), RedisState(redis_client, redis_prefix)
    assert await first.join("sockets:1.2.3.4", "a", limit=2)
    assert await second.join("sockets:1.2.3.4", "b", limit=2)
    assert not await first.join("sockets:1.2.3.4", "c", limit=2)
    assert await second.members("sockets:1.2.3.4") == {"a", "b"}
    await second.leave("sockets:1.2.3.4", "b")
    assert await first.join("sockets:1.2.3.4", "c", limit=2)
