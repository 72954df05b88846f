"""The helpdesk fakes behave as their contracts say, seen from an httpx client over real sockets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes._http import FakeHttpServer, FaultRates
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.zendesk import ZendeskFake, webhook_signature

ZENDESK_AUTH = ("agent@juniper.example/token", "zd-test-token")
GORGIAS_AUTH = ("agent@juniper.example", "gg-test-key")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Receiver(FakeHttpServer):
    """Stands in for frontdesk's webhook endpoint; the request log keeps what arrived."""

    def build_app(self) -> ASGIApp:
        async def accept(request: Request) -> Response:
            return PlainTextResponse("ok")

        return Starlette(routes=[Route("/hooks/{name}", accept, methods=["POST"])])


def zendesk_ticket(external_id: str = "conv_8f2c", **changes: Any) -> dict[str, Any]:
    ticket = {
        "subject": "Chat handoff: where is my order?",
        "requester": {"name": "Ana Silva", "email": "ana@example.com"},
        "external_id": external_id,
        "tags": ["frontdesk", "ai_handoff", "webchat"],
        "comment": {"html_body": "<p><b>2026-01-02T10:01:03Z Shopper:</b> where is it?</p>", "public": False},
    }
    return {"ticket": ticket | changes}


def gorgias_ticket(external_id: str = "conv_8f2c", messages: int = 1) -> dict[str, Any]:
    message = {
        "channel": "email",
        "via": "api",
        "from_agent": False,
        "sender": {"email": "ana@example.com"},
        "body_html": "<p>where is it?</p>",
        "body_text": "where is it?",
    }
    return {
        "customer": {"email": "ana@example.com", "name": "Ana Silva"},
        "channel": "email",
        "via": "api",
        "external_id": external_id,
        "messages": [message] * messages,
    }


@pytest.fixture
def zendesk() -> Iterator[ZendeskFake]:
    with ZendeskFake() as fake:
        yield fake


@pytest.fixture
def zd(zendesk: ZendeskFake) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=zendesk.url_template, auth=ZENDESK_AUTH, timeout=5) as client:
        yield client


@pytest.fixture
def gorgias() -> Iterator[GorgiasFake]:
    with GorgiasFake() as fake:
        yield fake


@pytest.fixture
def gg(gorgias: GorgiasFake) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gorgias.url_template, auth=GORGIAS_AUTH, timeout=5) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as fake:
        yield fake


# -- Zendesk


def test_zendesk_refuses_a_wrong_token_with_plain_text_401(zendesk: ZendeskFake) -> None:
    wrong = httpx.post(
        f"{zendesk.url_template}/api/v2/tickets.json",
        json=zendesk_ticket(),
        auth=("agent@juniper.example", "zd-test-token"),
    )
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("text/plain")
    assert "Couldn't authenticate you" in wrong.text
    assert zendesk.ticket_count == 0


def test_zendesk_me_can_answer_an_anonymous_user_instead_of_401() -> None:
    with ZendeskFake(anonymous_on_bad_credentials=True) as fake:
        refused = httpx.get(f"{fake.url_template}/api/v2/users/me.json", auth=("agent@juniper.example/token", "nope"))
        accepted = httpx.get(f"{fake.url_template}/api/v2/users/me.json", auth=ZENDESK_AUTH)
    assert refused.status_code == 200 and refused.json()["user"]["id"] is None
    assert accepted.json()["user"]["id"] == 1


def test_zendesk_serves_any_subdomain_through_the_url_template(zendesk: ZendeskFake) -> None:
    url = zendesk.url_template.format(subdomain="some-other-store")
    assert httpx.get(f"{url}/api/v2/users/me.json", auth=ZENDESK_AUTH).status_code == 200


def test_zendesk_refuses_a_ticket_without_requester_naming_the_field(zendesk: ZendeskFake, zd: httpx.Client) -> None:
    response = zd.post("/api/v2/tickets.json", json=zendesk_ticket(requester=None))
    assert response.status_code == 422
    assert response.json()["error"] == "RecordInvalid"
    assert "requester" in response.json()["details"]
    assert zendesk.ticket_count == 0


def test_zendesk_keeps_the_ticket_with_its_internal_note(zendesk: ZendeskFake, zd: httpx.Client) -> None:
    response = zd.post("/api/v2/tickets.json", json=zendesk_ticket())
    assert response.status_code == 201
    ticket = zendesk.ticket_by_external_id("conv_8f2c")
    assert ticket is not None and ticket.id == response.json()["ticket"]["id"]
    assert ticket.comments[0].public is False
    assert "where is it?" in ticket.comments[0].body
    assert zendesk.users[-1].email == "ana@example.com"


def test_zendesk_replays_an_idempotent_create_without_a_second_ticket(zendesk: ZendeskFake, zd: httpx.Client) -> None:
    first = zd.post("/api/v2/tickets.json", json=zendesk_ticket(), headers={"Idempotency-Key": "handoff-1"})
    again = zd.post("/api/v2/tickets.json", json=zendesk_ticket(), headers={"Idempotency-Key": "handoff-1"})
    other = zd.post("/api/v2/tickets.json", json=zendesk_ticket("conv_x"), headers={"Idempotency-Key": "handoff-1"})
    assert (first.status_code, first.headers["x-idempotency-lookup"]) == (201, "miss")
    assert (again.status_code, again.headers["x-idempotency-lookup"]) == (201, "hit")
    assert again.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    assert other.status_code == 409
    assert zendesk.ticket_count == 1


def test_zendesk_answers_429_with_retry_after_past_the_rate() -> None:
    clock = FakeClock()
    with (
        ZendeskFake(rate_per_minute=3, clock=clock) as fake,
        httpx.Client(base_url=fake.url_template, auth=ZENDESK_AUTH) as client,
    ):
        answers = [client.get("/api/v2/users/me.json") for _ in range(4)]
        clock.now += 60
        after_the_minute = client.get("/api/v2/users/me.json")
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-rate-limit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["x-rate-limit"] == "3"
    assert 1 <= int(answers[3].headers["retry-after"]) <= 60
    assert after_the_minute.status_code == 200


def test_zendesk_search_finds_the_ticket_by_external_id(zd: httpx.Client) -> None:
    created = zd.post("/api/v2/tickets.json", json=zendesk_ticket("conv_8f2c")).json()["ticket"]
    zd.post("/api/v2/tickets.json", json=zendesk_ticket("conv_other"))
    found = zd.get("/api/v2/search.json", params={"query": "type:ticket external_id:conv_8f2c"}).json()
    missing = zd.get("/api/v2/search.json", params={"query": "type:ticket external_id:conv_none"}).json()
    assert [r["id"] for r in found["results"]] == [created["id"]]
    assert missing == {"results": [], "facets": None, "next_page": None, "previous_page": None, "count": 0}


def test_zendesk_refuses_a_comment_past_the_cap() -> None:
    with ZendeskFake(max_comments=2) as fake, httpx.Client(base_url=fake.url_template, auth=ZENDESK_AUTH) as client:
        ticket_id = client.post("/api/v2/tickets.json", json=zendesk_ticket()).json()["ticket"]["id"]
        comment = {"ticket": {"comment": {"body": "still there?", "public": True, "author_id": 2}}}
        second = client.put(f"/api/v2/tickets/{ticket_id}.json", json=comment)
        third = client.put(f"/api/v2/tickets/{ticket_id}.json", json=comment)
        assert second.status_code == 200
        assert third.status_code == 422 and "base" in third.json()["details"]
        assert [c.author_id for c in fake.ticket(ticket_id).comments] == [2, 2]


def test_zendesk_agent_reply_is_signed_as_documented(
    zendesk: ZendeskFake, zd: httpx.Client, receiver: Receiver
) -> None:
    ticket_id = zd.post("/api/v2/tickets.json", json=zendesk_ticket()).json()["ticket"]["id"]
    hook = {
        "name": "frontdesk",
        "endpoint": f"{receiver.base_url}/hooks/zendesk",
        "http_method": "POST",
        "request_format": "json",
        "status": "active",
        "subscriptions": ["conditional_ticket_events"],
    }
    webhook_id = zd.post("/api/v2/webhooks", json={"webhook": hook}).json()["webhook"]["id"]
    secret = zd.get(f"/api/v2/webhooks/{webhook_id}/signing_secret").json()["signing_secret"]["secret"]

    assert zendesk.send_agent_reply(ticket_id, "It ships today.").status_code == 200
    comment_id = zendesk.deliveries[-1].comment_id
    zendesk.send_agent_reply(ticket_id, "It ships today.", comment_id=comment_id)
    zendesk.send_agent_reply(ticket_id, "It ships today.", tamper=True)

    first, redelivered, tampered = receiver.requests
    for delivery, genuine in ((first, True), (redelivered, True), (tampered, False)):
        stamp = delivery.headers["x-zendesk-webhook-signature-timestamp"]
        digest = hmac.new(secret.encode(), stamp.encode() + delivery.body, hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        assert hmac.compare_digest(expected, delivery.headers["x-zendesk-webhook-signature"]) is genuine
        assert time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    assert first.json() == {
        "ticket": {"id": ticket_id, "external_id": "conv_8f2c"},
        "comment": {
            "id": comment_id,
            "body": "It ships today.",
            "is_public": True,
            "author": {"id": 1, "name": "Juniper Agent", "role": "agent"},
        },
    }
    assert redelivered.json()["comment"]["id"] == comment_id
    assert [c.body for c in zendesk.ticket(ticket_id).comments][1:] == ["It ships today.", "It ships today."]


def test_webhook_signature_matches_an_independent_computation() -> None:
    stamp, body = "2021-03-25T05:09:27Z", b'{"say": "hello"}'
    digest = hmac.new(b"secret", stamp.encode() + body, hashlib.sha256).digest()
    assert webhook_signature("secret", stamp, body) == base64.b64encode(digest).decode()


def test_zendesk_refuses_a_webhook_without_endpoint_and_a_trigger_for_an_unknown_webhook(zd: httpx.Client) -> None:
    webhook = zd.post("/api/v2/webhooks", json={"webhook": {"name": "frontdesk", "http_method": "POST"}})
    trigger = {
        "title": "Agent replies to frontdesk",
        "conditions": {"all": [{"field": "current_tags", "operator": "includes", "value": "ai_handoff"}]},
        "actions": [{"field": "notification_webhook", "value": ["01NOSUCHWEBHOOK", "{}"]}],
    }
    refused = zd.post("/api/v2/triggers.json", json={"trigger": trigger})
    assert webhook.status_code == 400
    assert "/webhook/endpoint" in [e["source"]["pointer"] for e in webhook.json()["errors"]]
    assert refused.status_code == 422 and "actions" in refused.json()["details"]


# -- faults


def test_each_fault_reaches_the_client_as_its_error_and_creates_nothing() -> None:
    with ZendeskFake(slow_delay=0.3) as fake, httpx.Client(base_url=fake.url_template, auth=ZENDESK_AUTH) as client:
        fake.fail_next("5xx")
        assert client.post("/api/v2/tickets.json", json=zendesk_ticket()).status_code == 500
        fake.fail_next("429")
        limited = client.post("/api/v2/tickets.json", json=zendesk_ticket())
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        fake.fail_next("reset")
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.post("/api/v2/tickets.json", json=zendesk_ticket())
        fake.fail_next("timeout")
        with pytest.raises(httpx.ReadTimeout):
            client.post("/api/v2/tickets.json", json=zendesk_ticket(), timeout=0.3)
        assert fake.ticket_count == 0
        fake.fail_next("slow")
        started = time.monotonic()
        assert client.post("/api/v2/tickets.json", json=zendesk_ticket()).status_code == 201
        assert time.monotonic() - started >= 0.3
        assert [r.fault.kind if r.fault else None for r in fake.requests] == ["5xx", "429", "reset", "timeout", "slow"]


def test_a_fault_after_commit_leaves_the_ticket_and_the_retry_hits_the_key(
    zendesk: ZendeskFake, zd: httpx.Client
) -> None:
    zendesk.fail_next("5xx", after_commit=True, method="POST", path="/api/v2/tickets.json")
    failed = zd.post("/api/v2/tickets.json", json=zendesk_ticket(), headers={"Idempotency-Key": "handoff-1"})
    retried = zd.post("/api/v2/tickets.json", json=zendesk_ticket(), headers={"Idempotency-Key": "handoff-1"})
    assert failed.status_code == 500
    assert (retried.status_code, retried.headers["x-idempotency-lookup"]) == (201, "hit")
    assert zendesk.ticket_count == 1


def test_fail_next_only_strikes_the_matching_requests(zendesk: ZendeskFake, zd: httpx.Client) -> None:
    zendesk.fail_next("5xx", 2, path="/api/v2/tickets.json")
    assert zd.get("/api/v2/users/me.json").status_code == 200
    statuses = [zd.post("/api/v2/tickets.json", json=zendesk_ticket(f"conv_{i}")).status_code for i in range(3)]
    assert statuses == [500, 500, 201]


def test_random_faults_repeat_for_the_same_seed() -> None:
    def statuses(seed: int) -> list[int]:
        rates = FaultRates(server_error=0.3, rate_limited=0.2)
        with (
            ZendeskFake(faults=rates, seed=seed, rate_per_minute=None) as fake,
            httpx.Client(base_url=fake.url_template, auth=ZENDESK_AUTH) as client,
        ):
            return [client.get("/api/v2/users/me.json").status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert {200, 429, 500} == set(first)


def test_a_stopped_fake_refuses_connections_and_serves_again_on_restart() -> None:
    fake = ZendeskFake()
    with fake:
        pass
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fake.url_template}/api/v2/users/me.json", auth=ZENDESK_AUTH)
    with fake:
        assert httpx.get(f"{fake.url_template}/api/v2/users/me.json", auth=ZENDESK_AUTH).status_code == 200


async def test_the_fakes_serve_an_asyncio_client(zendesk: ZendeskFake) -> None:
    async with httpx.AsyncClient(base_url=zendesk.url_template, auth=ZENDESK_AUTH) as client:
        created = await client.post("/api/v2/tickets.json", json=zendesk_ticket())
    assert created.status_code == 201
    assert zendesk.ticket_by_external_id("conv_8f2c") is not None


# -- Gorgias


def test_gorgias_refuses_a_wrong_key_with_a_json_error(gorgias: GorgiasFake) -> None:
    response = httpx.get(f"{gorgias.url_template}/api/account", auth=("agent@juniper.example", "wrong"))
    assert response.status_code == 401
    assert "error" in response.json()
    assert httpx.get(f"{gorgias.url_template}/api/account", auth=GORGIAS_AUTH).json()["domain"] == "juniper"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**gorgias_ticket(), "messages": []}, "messages"),
        (gorgias_ticket(messages=501), "messages"),
        ({**gorgias_ticket(), "customer": {"name": "Ana"}}, "customer.email"),
        (
            {**gorgias_ticket(), "messages": [{"channel": "email", "via": "api", "from_agent": False}]},
            "messages.0.sender",
        ),
    ],
)
def test_gorgias_refuses_a_bad_ticket_naming_the_field(
    gorgias: GorgiasFake, gg: httpx.Client, payload: dict[str, Any], field: str
) -> None:
    response = gg.post("/api/tickets", json=payload)
    assert response.status_code == 400
    assert field in response.json()["error"]["data"]
    assert gorgias.ticket_count == 0


def test_gorgias_finds_the_ticket_by_external_id_and_adds_messages(gorgias: GorgiasFake, gg: httpx.Client) -> None:
    created = gg.post("/api/tickets", json=gorgias_ticket(messages=500))
    assert created.status_code == 201
    ticket_id = created.json()["id"]
    listed = gg.get("/api/tickets", params={"external_id": "conv_8f2c"}).json()
    message = {
        "channel": "email",
        "via": "api",
        "from_agent": False,
        "sender": {"email": "ana@example.com"},
        "body_text": "any news?",
    }
    added = gg.post(f"/api/tickets/{ticket_id}/messages", json=message)
    assert [t["id"] for t in listed["data"]] == [ticket_id]
    assert added.status_code == 201
    ticket = gorgias.ticket_by_external_id("conv_8f2c")
    assert ticket is not None and len(ticket.messages) == 501 and ticket.messages[-1].body_text == "any news?"


def test_gorgias_merged_ticket_answers_404(gorgias: GorgiasFake, gg: httpx.Client) -> None:
    older = gg.post("/api/tickets", json=gorgias_ticket("conv_old")).json()["id"]
    newer = gg.post("/api/tickets", json=gorgias_ticket("conv_new")).json()["id"]
    gorgias.merge_ticket(newer, into_ticket_id=older)
    assert gg.get(f"/api/tickets/{newer}").status_code == 404
    assert len(gg.get(f"/api/tickets/{older}").json()["messages"]) == 2


def test_gorgias_leaky_bucket_answers_429_with_retry_after() -> None:
    clock = FakeClock()
    with (
        GorgiasFake(bucket_capacity=2, bucket_window=20, clock=clock) as fake,
        httpx.Client(base_url=fake.url_template, auth=GORGIAS_AUTH) as client,
    ):
        answers = [client.get("/api/account") for _ in range(3)]
        clock.now += 10  # the bucket drains one call every 10 s
        drained = client.get("/api/account")
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["x-gorgias-account-api-call-limit"] for a in answers[:2]] == ["1/2", "2/2"]
    assert answers[2].headers["retry-after"] == "10"
    assert drained.status_code == 200


def test_gorgias_calls_the_http_integration_with_its_secret_header(
    gorgias: GorgiasFake, gg: httpx.Client, receiver: Receiver
) -> None:
    ticket_id = gg.post("/api/tickets", json={**gorgias_ticket(), "channel": "sms"}).json()["id"]
    integration = {
        "name": "frontdesk relay",
        "type": "http",
        "http": {
            "url": f"{receiver.base_url}/hooks/gorgias",
            "method": "POST",
            "headers": {"X-Frontdesk-Secret": "s3cret"},
            "form": "{{context}}",
            "request_content_type": "application/json",
            "triggers": {"ticket-message-created": True},
        },
    }
    assert gg.post("/api/integrations", json=integration).status_code == 201
    assert gorgias.send_agent_message(ticket_id, "Your parcel left today.").status_code == 200
    gorgias.send_agent_message(ticket_id, "again", integration_headers={"X-Frontdesk-Secret": "wrong"})
    genuine, forged = receiver.requests
    assert genuine.headers["x-frontdesk-secret"] == "s3cret"
    assert forged.headers["x-frontdesk-secret"] == "wrong"
    assert genuine.json()["ticket"] == {
        "id": ticket_id,
        "external_id": "conv_8f2c",
        "channel": "sms",
        "customer": gorgias.ticket(ticket_id).customer,
    }
    assert genuine.json()["message"]["body_text"] == "Your parcel left today."
    assert genuine.json()["message"]["from_agent"] is True


def test_gorgias_reset_fault_is_a_connection_error_and_creates_nothing(gorgias: GorgiasFake, gg: httpx.Client) -> None:
    gorgias.fail_next("reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        gg.post("/api/tickets", json=gorgias_ticket())
    assert gorgias.ticket_count == 0
    assert json.loads(gorgias.requests[0].body)["external_id"] == "conv_8f2c"
