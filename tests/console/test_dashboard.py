"""The overview dashboard, the conversations behind its numbers and their transcripts, as the store's admin sees them.

The module's demo server starts with no conversation; the test makes a known mix over the web chat's WebSocket
(the widget's own protocol, without a browser per shopper) and then reads the console in chromium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import ClientConnection, connect

from tests.webchat.conftest import Server
from tests.webchat.test_inbox_live import PASSWORD, create_user
from tests.webchat.test_widget import CANADA, UNKNOWN

Frame = dict[str, Any]
SHIPPING = "how long does standard shipping take?"
# Markup in a shopper's message must reach the admin as the text it is, never as markup or script.
HOSTILE = "<b>capital</b> of peru? <script>window.hacked = 1</script>"
ROUTED_EMAIL = "routed-shopper@example.com"


class Shopper:
    """One web chat conversation over the widget's WebSocket protocol (docs/webchat-protocol.md)."""

    def __init__(self, server: Server) -> None:
        self.url = server.base.replace("http://", "ws://") + "/ws/webchat"
        self.socket: ClientConnection | None = None
        self.conversation_id = ""

    def __enter__(self) -> Shopper:
        self.socket = connect(self.url).__enter__()
        self.send({"type": "hello"})
        self.conversation_id = self.until(lambda f: f["type"] == "welcome")[-1]["conversation_id"]
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        assert self.socket is not None
        self.socket.__exit__(kind, error, tb)

    def send(self, frame: Frame) -> None:
        assert self.socket is not None
        self.socket.send(json.dumps(frame))

    def until(self, done: Callable[[Frame], bool], timeout: float = 10.0) -> list[Frame]:
        assert self.socket is not None
        frames: list[Frame] = []
        while not frames or not done(frames[-1]):
            frames.append(json.loads(self.socket.recv(timeout=timeout)))
        return frames

    def ask(self, text: str) -> Frame:
        """The AI's reply to `text` (an answer, a greeting back, or the offer of a person)."""
        self.send({"type": "message", "text": text})
        return self.until(lambda f: f["type"] == "message" and f["author"] == "ai")[-1]

    def decline(self) -> None:
        self.send({"type": "action", "action": "handoff_no"})
        self.until(lambda f: f.get("status") == "ai")

    def accept(self, email: str) -> None:
        self.send({"type": "action", "action": "handoff_yes"})
        self.until(lambda f: f.get("kind") == "email_request")
        self.send({"type": "email", "email": email})
        self.until(lambda f: f.get("status") == "handing_off")


def make_known_mix(server: Server) -> dict[str, str]:
    """2 resolved, 1 unresolved (No), 1 routed to the team (Yes + email, and its ticket made), 1 greeting only:
    their ids by role."""
    ids: dict[str, str] = {}
    for name, question in (("canada", CANADA), ("shipping", SHIPPING)):
        with Shopper(server) as shopper:
            assert shopper.ask(question)["kind"] == "text"
            ids[name] = shopper.conversation_id
    with Shopper(server) as shopper:
        assert shopper.ask(HOSTILE)["kind"] == "offer"
        shopper.decline()
        ids["unresolved"] = shopper.conversation_id
    with Shopper(server) as shopper:
        assert shopper.ask(UNKNOWN)["kind"] == "offer"
        shopper.accept(ROUTED_EMAIL)
        shopper.until(lambda f: f.get("status") == "with_team")  # routed once the ticket exists
        ids["routed"] = shopper.conversation_id
    with Shopper(server) as shopper:
        assert shopper.ask("hi there")["text"].startswith("Hi!")
        ids["greeting"] = shopper.conversation_id
    return ids


def metric(page: Page, key: str) -> Any:
    return page.locator(f'[data-metric="{key}"]')


def listed_ids(page: Page) -> set[str]:
    rows = page.locator("table.dash-conversations tbody tr")
    return {rows.nth(i).get_attribute("data-conversation") or "" for i in range(rows.count())}


def test_overview_figures_match_the_conversations_made_and_each_number_lists_them(
    admin_page: Page, server: Server
) -> None:
    ids = make_known_mix(server)
    page = admin_page
    page.goto(f"{server.base}/console/overview")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    # 5 conversations, 4 with a question: 2 resolved (50%), 1 routed (25%), 1 unresolved, 1 greeting only.
    expect(metric(page, "resolution_rate")).to_have_text(re.compile(r"^\s*50%\s+Resolution rate\s*$"))
    expect(metric(page, "routed_to_team_rate")).to_have_text(re.compile(r"^\s*25%\s+Routed-to-team rate\s*$"))
    expect(metric(page, "conversations")).to_contain_text("5")
    for key, count in (("resolved", 2), ("routed_to_team", 1), ("unresolved", 1), ("no_question", 1)):
        expect(metric(page, key).locator(".dash-count-value")).to_have_text(str(count))
    expect(page.get_by_text("2 of 4 conversations with a question")).to_be_visible()
    chart = page.get_by_role("img", name=re.compile("Conversations per day by outcome"))
    expect(chart).to_be_visible()
    expect(chart.locator("rect.dash-bar")).to_have_count(4)  # today's bar: one segment per outcome
    expect(page.get_by_role("img", name=re.compile("Resolution rate and routed-to-team rate per day"))).to_be_visible()
    page.get_by_role("heading", name="Numbers per day").click()
    today = page.locator(".dash-numbers tbody tr").first
    expect(today.locator("td")).to_have_text(["5", "2", "1", "1", "1", "50%", "25%"])

    metric(page, "resolution_rate").click()
    expect(page).to_have_url(re.compile(r"/console/conversations\?.*outcome=resolved"))
    query = parse_qs(urlparse(page.url).query)
    assert set(query) == {"from", "to", "outcome"}
    expect(page.get_by_role("heading", level=1)).to_have_text("Conversations")
    assert listed_ids(page) == {ids["canada"], ids["shipping"]}
    rows = page.locator("table.dash-conversations tbody tr")
    expect(rows.locator(".dash-question")).to_have_text([SHIPPING, CANADA])  # newest first
    expect(rows.locator(".dash-badge")).to_have_text(["Resolved", "Resolved"])

    page.go_back()
    metric(page, "routed_to_team").click()
    assert listed_ids(page) == {ids["routed"]}
    expect(page.locator("table.dash-conversations tbody tr")).to_contain_text(ROUTED_EMAIL)

    page.go_back()
    metric(page, "conversations").click()
    assert listed_ids(page) == set(ids.values())
    page.get_by_label("Outcome", exact=True).select_option(label="No question")
    page.get_by_role("button", name="Show").click()
    assert listed_ids(page) == {ids["greeting"]}

    page.goto(f"{server.base}/console/overview")
    metric(page, "unresolved").click()
    assert listed_ids(page) == {ids["unresolved"]}
    question = page.locator("table.dash-conversations .dash-question")
    expect(question).to_have_text(HOSTILE)  # shown as text
    assert page.evaluate("window.hacked") is None
    question.get_by_role("link").click()

    expect(page).to_have_url(re.compile(rf"/console/conversations/{ids['unresolved']}"))
    expect(page.get_by_role("heading", name="Outcome: Unresolved")).to_be_visible()
    expect(page.locator('[data-fact="reason"]')).to_contain_text("could not answer")
    expect(page.locator('[data-fact="reason"]')).to_contain_text("the shopper said no to a person")
    transcript = page.locator(".dash-transcript")
    expect(transcript.locator(".dash-message .dash-author")).to_have_text(["Shopper", "AI", "AI"])
    expect(transcript.locator(".dash-message").first).to_contain_text(HOSTILE)
    expect(transcript.locator(".dash-message").first).to_contain_text("AI: could not answer")
    expect(transcript.locator("time").first).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT.*Z$"))
    expect(transcript).to_contain_text("No problem")
    events = page.get_by_role("table").filter(has_text="Why")
    expect(events).to_contain_text("the agent could not answer")
    expect(events).to_contain_text("shopper said no")
    assert page.evaluate("window.hacked") is None

    page.get_by_role("link", name="Back to the conversations").click()
    assert listed_ids(page) == {ids["unresolved"]}


def test_a_routed_conversation_shows_who_the_shopper_is_and_the_handoff(admin_page: Page, server: Server) -> None:
    with Shopper(server) as shopper:
        shopper.ask(UNKNOWN)
        shopper.accept("second-routed@example.com")
        # the outbox worker makes the inbox ticket just after the shopper's Yes: routed from then on
        shopper.until(lambda f: f.get("status") == "with_team")
        conversation_id = shopper.conversation_id
    page = admin_page
    page.goto(f"{server.base}/console/conversations/{conversation_id}")
    expect(page.get_by_role("heading", name="Outcome: Routed to team")).to_be_visible()
    facts = page.locator(".dash-facts")
    expect(facts).to_contain_text("second-routed@example.com")
    expect(facts).to_contain_text("Web chat")
    expect(facts).to_contain_text(re.compile(r"Profile\s*prof_"))
    expect(facts).to_contain_text(re.compile(r"Handoff\s*builtin: the agent could not answer"))
    expect(page.get_by_role("table").filter(has_text="Why")).to_contain_text("handing off")
    page.get_by_role("link", name="Open in the inbox").click()  # an admin may answer it there
    expect(page).to_have_url(f"{server.base}/inbox#{conversation_id}")


def test_a_channel_without_conversations_shows_zeros_and_no_rates(admin_page: Page, server: Server) -> None:
    page = admin_page
    page.get_by_label("Channel", exact=True).select_option(label="SMS")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"channel=sms"))
    expect(metric(page, "conversations")).to_contain_text("0")
    expect(metric(page, "resolution_rate")).to_contain_text("—")
    metric(page, "conversations").click()
    expect(page.locator("#conversations-summary")).to_contain_text("No conversations")


def test_a_wrong_filter_is_said_and_the_default_shown(admin_page: Page, server: Server) -> None:
    with Shopper(server) as shopper:  # at least one conversation, whichever tests ran before
        shopper.ask("how long does shipping take?")
    admin_page.goto(f"{server.base}/console/conversations")
    everything = admin_page.locator("#conversations-summary").inner_text()
    total = re.search(r"of ([\d,]+ conversations?)", everything)
    assert total, everything
    admin_page.goto(f"{server.base}/console/conversations?from=yesterday&outcome=lost&page=9")
    # Every conversation (the filters were dropped), on the last page there is.
    expect(admin_page.locator("#conversations-summary")).to_contain_text(f"of {total[1]},")
    expect(admin_page.get_by_role("alert")).to_contain_text("“yesterday” is not a date")
    expect(admin_page.get_by_role("alert")).to_contain_text("There is no outcome “lost”")
    expect(admin_page.get_by_label("Outcome", exact=True)).to_have_value("")


def test_an_agent_gets_the_403_page_and_a_signed_out_visitor_the_sign_in(
    browser: Browser, server: Server, database_url_for_module: str
) -> None:
    paths = ["/console/overview", "/console/conversations?outcome=resolved", "/console/conversations/conv_x",
             "/console/gaps"]  # fmt: skip
    for path in paths:
        response = httpx.get(f"{server.base}{path}", follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith(f"/signin?next={path.split('?')[0]}")

    create_user(server, database_url_for_module, "agent-only@juniper.example")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server.base}/signin?next=/inbox")
        page.get_by_label("Email").fill("agent-only@juniper.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server.base}/inbox")
        for path in paths:
            response = page.goto(f"{server.base}{path}")
            assert response is not None and response.status == 403, path
            expect(page.get_by_role("heading", level=1)).to_have_text("Not for your role")
            expect(page.get_by_role("navigation", name="Console")).to_have_count(0)
    finally:
        context.close()


def test_outcomes_the_shoppers_feedback_changed_are_counted_and_listed(admin_page: Page, server: Server) -> None:
    page = admin_page
    page.goto(f"{server.base}/console/overview")
    before = int(metric(page, "changed_by_feedback").locator(".dash-count-value").inner_text())
    with Shopper(server) as shopper:
        answer = shopper.ask(CANADA)
        shopper.send({"type": "feedback", "seq": answer["seq"], "rating": "not_helpful"})
        shopper.until(lambda f: f["type"] == "rating")
        rated = shopper.conversation_id
    page.reload()
    expect(metric(page, "changed_by_feedback")).to_contain_text(f"{before + 1} outcome")
    metric(page, "changed_by_feedback").click()
    expect(page).to_have_url(re.compile(r"/console/conversations\?.*feedback=changed"))
    expect(page.locator("#conversations-summary")).to_contain_text("whose outcome the shopper's feedback changed")
    assert rated in listed_ids(page)
    expect(page.locator(f'tr[data-conversation="{rated}"] .dash-badge')).to_have_text("Unresolved")
    page.goto(f"{server.base}/console/conversations/{rated}")
    expect(page.locator('[data-fact="reason"]')).to_contain_text("didn't help")
    expect(page.locator(".dash-rating")).to_have_text("the shopper rated it “didn't help”")
