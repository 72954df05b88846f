"""Knowledge gaps as the store's admin works them: one question asked in several phrasings is one gap, the team's
inbox reply becomes the draft answer, and once saved as a FAQ entry the playground answers it and the gap is marked
answered. The module's demo server starts with no conversation."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

from tests.console.test_dashboard import Shopper
from tests.webchat.conftest import Server
from tests.webchat.test_widget import UNKNOWN

# Engraving, which the demo store does not offer: the minilm engine answers "Do you offer gift wrapping?" from the gift
# cards FAQ (a wrong answer tests/agent/test_demo_answers.py counts), so gift wrapping is no longer a clean gap.
TYPICAL = "Do you offer engraving?"  # asked twice: the group's most typical phrasing
OTHERS = ["can you engrave my order?", "is engraving available?"]  # asked once each, in this order
REPLY = "Yes! Engraving is $10 per item: choose it at checkout, and type the words you want."
# The team's notice and the ticket come from the outbox worker: allow it one 5 s poll beyond its wake-up.
TICKET_SECONDS = 15.0


def ask_unanswered(server: Server, question: str) -> str:
    with Shopper(server) as shopper:
        assert shopper.ask(question)["kind"] == "offer"  # the agent could not answer
        return shopper.conversation_id


def handed_off_with_reply(server: Server, admin_page: Page, question: str, email: str, reply: str) -> str:
    """A shopper asks, says Yes and gives an email; the admin replies in the built-in inbox (its API, signed in)."""
    with Shopper(server) as shopper:
        assert shopper.ask(question)["kind"] == "offer"
        shopper.accept(email)
        shopper.until(lambda f: f.get("status") == "with_team", timeout=TICKET_SECONDS)
        conversation_id = shopper.conversation_id
    csrf = admin_page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    sent = admin_page.request.post(
        f"{server.base}/api/inbox/conversations/{conversation_id}/reply",
        data={"text": reply},
        headers={"X-CSRF-Token": csrf},
    )
    assert sent.status == 201, sent.text()
    return conversation_id


def test_a_gap_asked_in_phrasings_goes_to_the_knowledge_with_the_teams_reply_and_gets_answered(
    admin_page: Page, server: Server
) -> None:
    page = admin_page
    handed_off = handed_off_with_reply(server, page, TYPICAL, "engrave-shopper@example.com", REPLY)
    others = [ask_unanswered(server, question) for question in [TYPICAL, *OTHERS]]
    peru = ask_unanswered(server, UNKNOWN)

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Knowledge gaps").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Knowledge gaps")
    expect(page.locator("#gaps-summary")).to_contain_text("5 questions the agent could not answer")
    open_gaps = page.locator('section[aria-labelledby="open-heading"] article')
    expect(open_gaps.locator("h3")).to_have_text([TYPICAL, UNKNOWN])  # the most asked first
    wrap = page.get_by_role("article", name=TYPICAL, exact=True)  # the engraving gap
    expect(wrap.locator(".dash-gap-count")).to_have_text("Asked 4 times")
    expect(wrap).to_contain_text("in 4 conversations")
    # The typical phrasing, then the others by how often and how recently they were asked.
    expect(wrap.locator(".dash-examples li")).to_have_text(
        [re.compile(rf"^{re.escape(TYPICAL)}\s*× 2$"), *reversed(OTHERS)]
    )
    expect(wrap.locator(".dash-draft")).to_have_text(REPLY)
    example_links = {link.get_attribute("href") for link in wrap.locator(".dash-examples a").all()}
    assert example_links <= {f"/console/conversations/{c}" for c in [handed_off, *others]}
    peru_gap = page.get_by_role("article", name=UNKNOWN, exact=True)
    expect(peru_gap.locator(".dash-gap-count")).to_have_text("Asked 1 time")
    expect(peru_gap.locator(".dash-examples a")).to_have_attribute("href", f"/console/conversations/{peru}")
    expect(peru_gap.locator(".dash-draft")).to_have_count(0)

    # The same gap as a script reads it.
    body = server.api("GET", "/api/metrics/gaps")
    assert [(g["question"], g["count"], g["draft_answer"]) for g in body["gaps"]] == [
        (TYPICAL, 4, REPLY),
        (UNKNOWN, 1, None),
    ]

    wrap.get_by_role("link", name="Add to knowledge").click()
    expect(page).to_have_url(re.compile(r"/console/knowledge/new\?"))
    query = parse_qs(urlparse(page.url).query)
    assert query["question"] == [TYPICAL]
    assert query["answer"] == [REPLY]
    expect(page.get_by_label("Question", exact=True)).to_have_value(TYPICAL)
    expect(page.get_by_label("Answer", exact=True)).to_have_value(REPLY)
    expect(page.get_by_label("Alternate phrasings")).to_have_value("\n".join(reversed(OTHERS)))
    page.get_by_role("button", name="Save entry").click()
    expect(page).not_to_have_url(re.compile(r"/console/knowledge/new"))

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Playground").click()
    page.get_by_role("textbox", name="Question").fill("can you engrave my order?")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#answer-text")).to_have_text(REPLY)
    expect(page.locator("#entry-chosen")).to_contain_text(TYPICAL)

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Knowledge gaps").click()
    expect(page.locator('section[aria-labelledby="open-heading"] article h3')).to_have_text([UNKNOWN])
    answered = page.locator('section[aria-labelledby="answered-heading"]')
    expect(answered.get_by_role("heading", name="Now answered")).to_be_visible()
    now = answered.get_by_role("article", name=TYPICAL, exact=True)
    expect(now).to_contain_text("Now answered by")
    expect(now.locator(".dash-now-answered").get_by_role("link", name=TYPICAL, exact=True)).to_have_attribute(
        "href", re.compile(r"^/console/knowledge/\d+$")
    )
    expect(now.get_by_role("link", name="Add to knowledge")).to_have_count(0)


def test_gaps_follow_the_channel_and_dates_chosen(admin_page: Page, server: Server) -> None:
    page = admin_page
    page.goto(f"{server.base}/console/gaps?channel=sms")
    expect(page.locator("#gaps-summary")).to_contain_text("No question went unanswered")
    page.goto(f"{server.base}/console/gaps?from=2020-01-01&to=2020-01-31")
    expect(page.locator("#gaps-summary")).to_contain_text("No question went unanswered Jan 1, 2020 – Jan 31, 2020")


WARRANTY = "what is the warranty on a tent?"  # the "What warranty do you offer?" FAQ should have answered it
WARRANTY_FAQ = "What warranty do you offer?"


def test_a_gap_an_existing_faq_should_have_answered_is_added_to_it_as_a_phrasing(
    admin_page: Page, server: Server
) -> None:
    page = admin_page
    ask_unanswered(server, WARRANTY)
    entries_before = server.api("GET", "/api/knowledge?limit=200")["total"]

    page.goto(f"{server.base}/console/gaps")
    gap = page.get_by_role("article", name=WARRANTY, exact=True)
    chooser = gap.get_by_label(f"The FAQ that answers “{WARRANTY}”")
    expect(chooser.locator("option")).to_contain_text([WARRANTY_FAQ])
    chooser.select_option(label=WARRANTY_FAQ)
    gap.get_by_role("button", name="Add as a phrasing").click()
    expect(page.locator("#flash")).to_have_text(
        f"“{WARRANTY}” is now a phrasing of “{WARRANTY_FAQ}”: the agent answers it from now on."
    )
    assert server.api("GET", "/api/knowledge?limit=200")["total"] == entries_before  # no duplicate entry

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Playground").click()
    page.get_by_role("textbox", name="Question").fill(WARRANTY)
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#entry-chosen")).to_contain_text(WARRANTY_FAQ)

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Knowledge gaps").click()
    answered = page.locator('section[aria-labelledby="answered-heading"]')
    now = answered.get_by_role("article", name=WARRANTY, exact=True)
    expect(now).to_contain_text(f"Now answered by {WARRANTY_FAQ}")
