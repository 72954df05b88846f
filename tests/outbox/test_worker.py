"""The outbox worker's loop, delivering handoffs to the fake Zendesk (a real HTTP server): one ticket per conversation
whatever fails on the way (5xx, 429, crashed workers, two workers at once), retries that honour Retry-After and stop
after the retry window, dead rows the admin sees and retries, and request budgets that hold with deliveries in
flight."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from frontdesk.app import create_app
from frontdesk.db import Database
from frontdesk.outbox.worker import LEASE
from tests.fakes.zendesk import ZendeskFake
from tests.handoff.shop import HELPDESK_EMAIL, ZENDESK_TOKEN, Shop, due_at
from tests.server import ADMIN_HEADERS


async def test_a_server_error_then_success_makes_one_ticket(shop: Shop, fake_zendesk: ZendeskFake) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    fake_zendesk.fail_next("5xx", method="POST", path="/api/v2/tickets.json")
    worker = shop.worker()

    assert await worker.deliver_due() == 0
    row = await shop.row(conversation_id)
    assert row.status == "pending" and "500" in (row.last_error or "")
    assert due_at(row) > shop.clock()  # backed off, not hammered
    shop.clock.advance(60)
    assert await worker.deliver_due() == 1

    assert len(fake_zendesk.tickets_with_external_id(conversation_id)) == 1
    assert (await shop.conversation(conversation_id)).status == "with_team"


async def test_a_429_is_not_retried_before_its_retry_after(shop: Shop) -> None:
    fake_now = [10.0]  # the fake's own clock: its per-minute window resets 50 s from here
    with ZendeskFake(api_token=ZENDESK_TOKEN, email=HELPDESK_EMAIL, rate_per_minute=1, clock=lambda: fake_now[0]) as zd:
        shop.settings = shop.settings.model_copy(update={"zendesk_url_template": zd.url_template})
        await shop.connect("zendesk", ZENDESK_TOKEN)
        conversation_id = await shop.hand_off()
        httpx.get(f"{zd.base_url}/api/v2/users/me.json", auth=(f"{HELPDESK_EMAIL}/token", ZENDESK_TOKEN))
        worker = shop.worker()
        asked_at = shop.clock()

        assert await worker.deliver_due() == 0
        row = await shop.row(conversation_id)
        assert "429" in (row.last_error or "")
        assert due_at(row) >= asked_at + timedelta(seconds=50)
        shop.clock.advance(49)
        posts = len(zd.requests_to("POST", "/api/v2/tickets.json"))
        assert await worker.deliver_due() == 0
        assert len(zd.requests_to("POST", "/api/v2/tickets.json")) == posts  # Zendesk was not asked again early

        shop.clock.advance(2)
        fake_now[0] = 61.0  # Zendesk's next minute
        assert await worker.deliver_due() == 1
        assert zd.ticket_count == 1


async def test_refused_credentials_go_dead_at_once_show_in_the_api_and_a_retry_sends_them_again(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", "a-revoked-token")
    conversation_id = await shop.hand_off()
    worker = shop.worker()

    assert await worker.deliver_due() == 0
    row = await shop.row(conversation_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "AuthFailed" in (row.last_error or "") and "401" in (row.last_error or "")

    app = create_app(shop.settings, clock=shop.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=ADMIN_HEADERS) as http:
            dead = (await http.get("/api/outbox", params={"status": "dead"})).json()
            assert [(r["id"], r["target"], r["kind"], r["attempts"]) for r in dead] == [
                (row.id, "zendesk", "handoff", 1)
            ]
            assert "401" in dead[0]["last_error"] and dead[0]["next_attempt_at"]
            assert (await http.get("/api/outbox", params={"status": "pending"})).json() == []
            assert (await http.get("/api/outbox", params={"status": "nonsense"})).status_code == 422
            assert (await http.post(f"/api/outbox/{row.id}/retry", headers={"Authorization": ""})).status_code == 401

            await shop.connect("zendesk", ZENDESK_TOKEN)  # the admin fixes the token
            retried = await http.post(f"/api/outbox/{row.id}/retry")
            assert retried.status_code == 200 and retried.json()["status"] == "pending"
            assert await worker.deliver_due() == 1
            assert (await http.post(f"/api/outbox/{row.id}/retry")).status_code == 409
            assert (await http.post("/api/outbox/999999/retry")).status_code == 404
    assert fake_zendesk.ticket_by_external_id(conversation_id) is not None


async def test_a_handoff_that_keeps_failing_goes_dead_when_the_retry_window_runs_out(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    shop.settings = shop.settings.model_copy(update={"outbox_retry_hours": 1.0})
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    fake_zendesk.fail_next("5xx", n=1000, method="POST", path="/api/v2/tickets.json")
    worker = shop.worker()

    for _ in range(5):
        await worker.deliver_due()
        shop.clock.advance(5 * 60)
        assert (await shop.row(conversation_id)).status == "pending"  # 25 minutes in: still trying
    shop.clock.advance(40 * 60)
    await worker.deliver_due()

    row = await shop.row(conversation_id)
    assert row.status == "dead" and row.last_error is not None
    assert row.last_error.startswith("gave up after 6 attempts") and "500" in row.last_error
    shop.clock.advance(24 * 3600)
    assert await worker.deliver_due() == 0  # dead stays dead until someone retries it
    assert fake_zendesk.ticket_count == 0
    assert (await shop.conversation(conversation_id)).status == "handing_off"


async def test_a_worker_that_crashed_after_creating_the_ticket_is_replaced_once_its_lease_runs_out(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    crashed, survivor = shop.worker("worker-crashed"), shop.worker("worker-2")

    class Crash(Exception):
        pass

    async def die(*_: object) -> None:
        raise Crash  # the process died between the helpdesk's answer and our commit

    claimed = await crashed._claim_next()
    assert claimed is not None
    item_id, _, target = claimed
    tickets = crashed.deliveries.of("handoff")
    tickets._record_ticket = die  # type: ignore[attr-defined]
    with pytest.raises(Crash):
        await tickets.deliver(item_id, crashed._transport(target))
    assert fake_zendesk.ticket_count == 1
    assert (await shop.row(conversation_id)).leased_by == "worker-crashed"

    assert await survivor.deliver_due() == 0  # the lease still holds
    shop.clock.advance(LEASE.total_seconds() + 1)
    assert await survivor.deliver_due() == 1

    row = await shop.row(conversation_id)
    assert (row.status, row.leased_by, row.attempts) == ("delivered", "worker-2", 2)
    assert len(fake_zendesk.tickets_with_external_id(conversation_id)) == 1
    assert (await shop.conversation(conversation_id)).status == "with_team"


async def test_one_worker_delivers_several_handoffs_at_once_and_each_once(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    """A slow helpdesk does not hold the queue to one ticket at a time: up to `outbox_concurrency` creates are in
    flight together, and each handoff still makes exactly one ticket."""
    await shop.connect("zendesk", ZENDESK_TOKEN)
    shop.settings = shop.settings.model_copy(update={"outbox_concurrency": 4})
    conversation_ids = [await shop.hand_off(f"at-once{i}@example.com") for i in range(8)]
    fake_zendesk.slow_delay = 0.3  # under the worker's 0.5 s timeout
    fake_zendesk.fail_next("slow", 8, method="POST", path="/api/v2/tickets.json")

    assert await shop.worker().deliver_due() == 8

    assert fake_zendesk.most_in_flight == 4
    assert len(fake_zendesk.requests_to("POST", "/api/v2/tickets.json")) == 8
    assert all(len(fake_zendesk.tickets_with_external_id(c)) == 1 for c in conversation_ids)
    assert {(await shop.row(c)).status for c in conversation_ids} == {"delivered"}


async def test_deliveries_started_together_never_spend_more_than_the_budget_holds(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    """The plan's rate limit holds with several deliveries in flight: a budget with one request left lets one ticket
    go, and the other handoffs wait for the refill instead of all starting on that one token."""
    await shop.connect("zendesk", ZENDESK_TOKEN)
    shop.settings = shop.settings.model_copy(update={"outbox_concurrency": 8, "zendesk_rate_per_minute": 20})
    for i in range(5):
        await shop.hand_off(f"budget{i}@example.com")
    worker = shop.worker()  # a burst of 1 request, refilled slowly; the clock does not move

    assert await worker.deliver_due() == 1
    assert len(fake_zendesk.requests_to("POST", "/api/v2/tickets.json")) == 1
    assert await shop.pending() == 4

    shop.clock.advance(60)  # a minute's refill
    assert await worker.deliver_due() >= 1


async def test_two_workers_over_fifty_handoffs_make_fifty_tickets_and_no_duplicate(
    shop: Shop, fake_zendesk: ZendeskFake, database_url: str
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_ids = [await shop.hand_off(f"shopper{i}@example.com") for i in range(50)]
    # Two engines, as two processes would have: on PostgreSQL they claim with SKIP LOCKED.
    first, second = Database(database_url), Database(database_url)
    try:
        a, b = shop.worker("worker-a", first), shop.worker("worker-b", second)
        for _ in range(30):
            await asyncio.gather(a.deliver_due(), b.deliver_due())
            if not await shop.pending():
                break
            shop.clock.advance(10)  # the request budgets refill
        assert await shop.pending() == 0
    finally:
        await first.dispose()
        await second.dispose()

    assert fake_zendesk.ticket_count == 50
    assert all(len(fake_zendesk.tickets_with_external_id(c)) == 1 for c in conversation_ids)
    creates = fake_zendesk.requests_to("POST", "/api/v2/tickets.json")
    assert len(creates) == 50  # no row was sent twice
    rows = [await shop.row(c) for c in conversation_ids]
    assert {r.leased_by for r in rows} == {"worker-a", "worker-b"}  # both did their share
    assert all(r.status == "delivered" for r in rows)
