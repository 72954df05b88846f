"""A shopper in the widget and an agent in the inbox, two browser contexts against one real server: the handoff
appears in the inbox without a reload, the agent claims and replies, the shopper sees the reply within a second,
and after the hand back the AI answers again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fakes.smtp import SmtpServer, text_of
from tests.webchat.conftest import CHROMIUM, Server, watch_policy
from tests.webchat.test_widget import CANADA, NO, PASSING, TEAM_NOTICE_MS, UNKNOWN, YES, Chat

PASSWORD = "inbox-test-password"
# Headless chromium shows no desktop notifications: record what the page asks for instead, with permission granted.
RECORD_NOTIFICATIONS = """
window.__notifications = [];
window.Notification = class {
  constructor(title, options) { window.__notifications.push({ title, body: (options || {}).body }); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
"""


def create_user(server: Server, database_url: str, email: str, role: str = "agent") -> None:
    subprocess.run(
        [sys.executable, "-m", "frontdesk.cli", "users", "create", email, "--role", role, "--name", email.split("@")[0],
         "--password-stdin"],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True,
        env={**os.environ, "FRONTDESK_DATABASE_URL": database_url},
    )  # fmt: skip


def sign_in(page: Page, server: Server, email: str) -> None:
    page.goto(f"{server.base}/inbox")
    expect(page).to_have_url(f"{server.base}/signin?next=/inbox")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base}/inbox")
    expect(page.locator("#live")).to_have_text("Live")


@pytest.fixture
def agent_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    watch_policy(page, errors)
    yield page
    context.close()
    assert errors == [], f"script errors in the inbox: {errors}"


def hand_off(chat: Chat, email: str) -> None:
    chat.open()
    chat.input.fill(UNKNOWN)
    chat.input.press("Enter")
    chat.page.get_by_role("button", name=YES).click()
    chat.email.fill(email)
    chat.email.press("Enter")
    expect(chat.log).to_contain_text(PASSING)
    # The ticket is made by the worker, after the shopper is told: until then the conversation is `handing_off` and
    # the inbox may not act on it (close answers 409). The widget shows the state it is told.
    expect(chat.panel).to_have_attribute("data-status", "with_team")


def test_agent_sees_the_handoff_live_claims_replies_and_hands_back(
    server: Server, database_url_for_module: str, page: Page, agent_page: Page
) -> None:
    assert CHROMIUM.exists()
    create_user(server, database_url_for_module, "ana@juniper.example")
    sign_in(agent_page, server, "ana@juniper.example")
    agent_page.get_by_role("button", name="Unassigned").click()

    chat = Chat(page, server)
    hand_off(chat, "live-shopper@example.com")
    # Ana has the inbox open, so she counts as available: the shopper is told a person will join.
    expect(chat.log).to_contain_text("A person from our team will join", timeout=TEAM_NOTICE_MS)

    ticket = agent_page.locator(".ticket", has_text="live-shopper@example.com")
    expect(ticket).to_be_visible()  # no reload: it arrived over the inbox's socket
    expect(agent_page.locator("#flash")).to_have_text("New handoff waiting in the unassigned queue.")
    notifications = agent_page.evaluate("window.__notifications")
    assert {"title": "New handoff", "body": "A shopper is waiting for the team."} in notifications
    expect(agent_page.locator('[data-count="unassigned"]')).not_to_have_text("0")
    ticket.click()
    transcript = agent_page.locator("#transcript")
    expect(transcript).to_contain_text(UNKNOWN)
    expect(transcript).to_contain_text("would you like to connect", ignore_case=True)  # the AI's turn before it
    expect(agent_page.locator("#facts")).to_contain_text("the agent could not answer")
    agent_page.get_by_role("button", name="Assign to me").click()
    expect(agent_page.locator("#facts")).to_contain_text("Assigned toana")

    # The shopper writes while the agent looks: it appears in the inbox without a reload.
    chat.input.fill("it's for a school project")
    chat.input.press("Enter")
    expect(transcript).to_contain_text("it's for a school project")

    # With the team, the shopper's box says who is listening, and the launcher is not under the open panel.
    expect(chat.input).to_have_attribute("placeholder", "Message our team…")
    expect(chat.bubble).to_be_hidden()

    agent_page.get_by_label("Message").press_sequentially("Lima is the capital of Peru.", delay=5)
    expect(chat.hook("typing")).to_have_text("ana is typing…")
    sent = time.monotonic()
    agent_page.get_by_role("button", name="Send").click()
    expect(chat.log).to_contain_text("Lima is the capital of Peru.", timeout=1_000)
    assert time.monotonic() - sent < 1.0
    reply = chat.messages("agent").last
    expect(reply.locator(".who-name")).to_have_text("ana")  # the agent's display name, not "Team"
    expect(reply.locator('[data-frontdesk="avatar"]')).to_have_text("A")
    expect(chat.hook("typing")).to_be_hidden()

    agent_page.get_by_role("radio", name="Internal note").check()
    agent_page.get_by_label("Message").fill("Asked about geography; not a store question")
    agent_page.get_by_role("button", name="Send").click()
    expect(transcript).to_contain_text("Internal note")
    chat.page.wait_for_timeout(300)
    expect(chat.log).not_to_contain_text("geography")

    agent_page.get_by_role("button", name="Hand back to the AI").click()
    expect(chat.log).to_contain_text("back with our virtual assistant")
    chat.input.fill(CANADA)
    chat.input.press("Enter")
    expect(chat.log.locator('[data-author="ai"]').last).to_contain_text("Canada")
    expect(agent_page.locator('[data-count="open"]')).to_have_text("0")
    assert NO  # the offer's other button is covered by test_widget


def test_a_second_agent_is_told_when_the_first_has_claimed(
    server: Server, database_url_for_module: str, page: Page, agent_page: Page, browser: Browser
) -> None:
    create_user(server, database_url_for_module, "bo@juniper.example")
    create_user(server, database_url_for_module, "cy@juniper.example")
    sign_in(agent_page, server, "bo@juniper.example")
    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(other, server, "cy@juniper.example")
        hand_off(Chat(page, server), "race-shopper@example.com")
        for agent in (agent_page, other):
            agent.locator(".ticket", has_text="race-shopper@example.com").click()
            expect(agent.get_by_role("button", name="Assign to me")).to_be_visible()
        agent_page.get_by_role("button", name="Assign to me").click()
        expect(agent_page.locator("#flash")).to_have_text("Assigned to you.")
        # Cy, looking at the same conversation, is told at once and can no longer claim it.
        expect(other.locator("#flash")).to_have_text("bo has claimed this conversation.")
        expect(other.locator("#facts")).to_contain_text("Assigned tobo")
        expect(other.get_by_role("button", name="Assign to me")).to_be_hidden()
    finally:
        other.context.close()


def test_a_reply_to_a_shopper_who_left_arrives_by_email_and_its_link_reopens_the_chat(
    server: Server, database_url_for_module: str, page: Page, agent_page: Page, browser: Browser, smtp: SmtpServer
) -> None:
    create_user(server, database_url_for_module, "di@juniper.example")
    sign_in(agent_page, server, "di@juniper.example")
    chat = Chat(page, server)
    hand_off(chat, "gone-shopper@example.com")
    page.context.close()  # the shopper closes the tab before anyone answers

    agent_page.locator(".ticket", has_text="gone-shopper@example.com").click()
    agent_page.get_by_label("Message").fill("Sorry for the wait: Lima is the capital of Peru.")
    agent_page.get_by_role("button", name="Send").click()
    expect(agent_page.locator("#flash")).to_have_text("Reply sent.")

    deadline = time.monotonic() + TEAM_NOTICE_MS / 1000
    while not [m for m in smtp.messages if m["To"] == "gone-shopper@example.com"]:
        assert time.monotonic() < deadline, f"no email reached the SMTP server: {[m['To'] for m in smtp.messages]}"
        time.sleep(0.1)
    [email] = [m for m in smtp.messages if m["To"] == "gone-shopper@example.com"]
    body = text_of(email)
    assert "Lima is the capital of Peru." in body
    link = re.search(r"http://\S+/chat\?resume=\S+", body)
    assert link, body

    reopened = browser.new_context().new_page()
    try:
        reopened.goto(link.group(0))
        log = reopened.locator('[data-frontdesk="log"]')
        expect(log).to_contain_text(UNKNOWN)  # the whole conversation, from before the handoff
        expect(log).to_contain_text("Sorry for the wait: Lima is the capital of Peru.")
    finally:
        reopened.context.close()


def test_with_nothing_chosen_the_inbox_shows_an_empty_state_and_no_reply_box(
    server: Server, database_url_for_module: str, agent_page: Page
) -> None:
    create_user(server, database_url_for_module, "empty-state@juniper.example")
    sign_in(agent_page, server, "empty-state@juniper.example")
    expect(agent_page.get_by_role("heading", name="Choose a conversation")).to_be_visible()
    for hidden in ("Assign to me", "Hand back to the AI", "Close", "Send"):
        expect(agent_page.get_by_role("button", name=hidden, exact=True)).to_be_hidden()
    expect(agent_page.get_by_label("Message")).to_be_hidden()
    expect(agent_page.locator("#flash")).to_have_text("")
    # The console's buttons, not the browser's defaults.
    expect(agent_page.get_by_role("button", name="Set me away")).to_have_class(re.compile(r"\bbutton\b"))


def test_the_shopper_rates_the_team_after_the_close_and_the_overview_counts_it(
    server: Server, database_url_for_module: str, page: Page, agent_page: Page
) -> None:
    create_user(server, database_url_for_module, "lead@juniper.example", role="admin")
    sign_in(agent_page, server, "lead@juniper.example")
    chat = Chat(page, server)
    hand_off(chat, "csat-shopper@example.com")
    agent_page.get_by_role("button", name="Unassigned").click()
    agent_page.locator(".ticket", has_text="csat-shopper@example.com").click()
    agent_page.get_by_role("button", name="Assign to me").click()
    agent_page.get_by_label("Message").fill("Here to help: what do you need?")
    agent_page.get_by_role("button", name="Send").click()
    expect(chat.log).to_contain_text("Here to help")
    agent_page.get_by_role("button", name="Close", exact=True).click()

    rating = chat.log.get_by_role("group", name="Rate the help you got")
    expect(rating).to_be_visible()
    expect(rating.get_by_role("button")).to_have_text(["Very poor", "Poor", "OK", "Good", "Excellent"])
    rating.get_by_role("button", name="Good").click()
    expect(rating.get_by_role("button", name="Good")).to_have_attribute("aria-pressed", "true")
    expect(chat.log).to_contain_text("Thank you for your rating!")
    conversation_id = chat.conversation_id
    for _ in range(50):
        if server.api("GET", f"/api/conversations/{conversation_id}").get("csat_score") == 4:
            break
        page.wait_for_timeout(100)

    team = server.api("GET", "/api/metrics/team")
    [lead] = [row for row in team["agents"] if row["agent"] == "lead"]
    assert (lead["conversations"], lead["ratings"], lead["csat"]) == (1, 1, 1.0)
    assert lead["first_response_seconds"] is not None and lead["time_to_close_seconds"] is not None

    agent_page.goto(f"{server.base}/console/overview")
    row = agent_page.locator(f'.dash-team tr[data-agent="{lead["agent_id"]}"]')
    expect(row.locator('[data-metric="csat"]')).to_have_text("100%")
    expect(row.locator('[data-metric="first_response"]')).to_have_text(re.compile(r"^\d+ s$"))
    row.locator('[data-metric="csat"]').click()
    expect(agent_page).to_have_url(re.compile(r"/console/conversations\?.*rated=1.*agent="))
    expect(agent_page.locator(f'tr[data-conversation="{conversation_id}"]')).to_be_visible()
