"""The console's Knowledge and Playground pages, driven as an admin in chromium against a real `frontdesk serve --demo`.

The demo knowledge is shared by every test of this module: each test makes up questions of its own (kayaks, llamas,
hot-air balloons) that the demo store cannot answer, and never counts entries.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from tests.console.conftest import sign_in_admin
from tests.webchat.conftest import Server
from tests.webchat.test_inbox_live import PASSWORD, create_user


def create_faq(server: Server, question: str, answer: str, alternates: list[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = server.api(
        "POST",
        "/api/knowledge",
        json={"kind": "faq", "title": question, "body": answer, "alternates": alternates or []},
    )
    return entry


def ask_in_playground(page: Page, server: Server, question: str) -> None:
    page.goto(f"{server.base}/console/playground")
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#result-heading")).to_be_visible()


def search_entries(page: Page, server: Server, text: str, kind: str = "All kinds") -> None:
    page.goto(f"{server.base}/console/knowledge")
    page.get_by_label("Search", exact=True).fill(text)
    page.get_by_label("Kind").select_option(label=kind)
    page.get_by_role("button", name="Search", exact=True).click()


def entries_table(page: Page) -> Locator:
    return page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Updated"))


def test_search_finds_demo_entries_of_each_kind(admin_page: Page, server: Server) -> None:
    search_entries(admin_page, server, "expedited")
    expect(entries_table(admin_page)).to_contain_text("Do you offer expedited or overnight shipping?")
    expect(entries_table(admin_page).get_by_role("row", name=re.compile("expedited or overnight"))).to_contain_text(
        "FAQ"
    )

    search_entries(admin_page, server, "backpacking tent", kind="Product")
    row = entries_table(admin_page).get_by_role("row", name=re.compile("Basin Backpacking Tent"))
    expect(row).to_contain_text("Product")

    search_entries(admin_page, server, "warranty", kind="Article")
    expect(entries_table(admin_page).get_by_role("row").nth(1)).to_contain_text("Article")

    search_entries(admin_page, server, "hot-air balloon mooring fees")
    expect(admin_page.locator("#entries-summary")).to_contain_text("No entries match")


def test_faq_added_through_the_form_is_what_the_playground_answers_with(admin_page: Page, server: Server) -> None:
    question = "Can you gift wrap a kayak?"
    answer = "Yes: kayaks are gift wrapped in recycled sailcloth for $15, tied with a paddle-shaped tag."
    admin_page.goto(f"{server.base}/console/knowledge")
    admin_page.get_by_role("link", name="Add entry").click()
    expect(admin_page.get_by_role("radio", name="FAQ")).to_be_checked()
    admin_page.get_by_label("Question").fill(question)
    admin_page.get_by_label("Alternate phrasings").fill("do you gift wrap kayaks\nkayak gift wrapping")
    admin_page.get_by_label("Answer").fill(answer)
    admin_page.get_by_role("button", name="Save entry").click()

    expect(admin_page).to_have_url(re.compile(rf"{re.escape(server.base)}/console/knowledge/\d+$"))
    expect(admin_page.locator("#flash")).to_have_text("Saved")
    expect(admin_page.get_by_label("Question")).to_have_value(question)
    expect(admin_page.get_by_label("Alternate phrasings")).to_have_value("do you gift wrap kayaks\nkayak gift wrapping")
    entry_url = admin_page.url

    ask_in_playground(admin_page, server, question)
    expect(admin_page.get_by_role("heading", name="The agent would answer")).to_be_visible()
    expect(admin_page.locator("#answer-text")).to_have_text(answer)
    expect(admin_page.locator("#confidence")).to_contain_text(re.compile(r"0\.\d\d|1\.00"))
    chosen = admin_page.locator("#entry-chosen").get_by_role("link", name=question)
    expect(chosen).to_be_visible()
    chosen.click()
    expect(admin_page).to_have_url(entry_url)


def test_edited_answer_is_shown_on_the_entry_and_in_the_playground(admin_page: Page, server: Server) -> None:
    question = "Do you rent llamas to carry tents to the campsite?"
    entry = create_faq(server, question, "Yes, two llamas per booking.")
    admin_page.goto(f"{server.base}/console/knowledge/{entry['id']}")
    admin_page.get_by_label("Answer").fill("No longer: the llamas retired to a farm in Oregon.")
    admin_page.get_by_role("button", name="Save entry").click()
    expect(admin_page.locator("#flash")).to_have_text("Saved")

    admin_page.reload()
    expect(admin_page.get_by_label("Answer")).to_have_value("No longer: the llamas retired to a farm in Oregon.")
    ask_in_playground(admin_page, server, question)
    expect(admin_page.locator("#answer-text")).to_have_text("No longer: the llamas retired to a farm in Oregon.")


def test_deleted_entry_asks_to_confirm_and_is_no_longer_answered_with(admin_page: Page, server: Server) -> None:
    question = "Will you store my hot-air balloon over the winter?"
    entry = create_faq(server, question, "Yes, in our Portland hangar for $40 a month.")
    ask_in_playground(admin_page, server, question)
    expect(admin_page.locator("#entry-chosen")).to_contain_text(question)

    admin_page.goto(f"{server.base}/console/knowledge/{entry['id']}")
    admin_page.get_by_role("button", name="Delete entry").click()
    confirm = admin_page.get_by_role("region", name="Delete this entry?")
    expect(confirm).to_contain_text(question)
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    admin_page.get_by_role("button", name="Delete entry").click()
    confirm.get_by_role("button", name="Yes, delete it").click()

    expect(admin_page).to_have_url(f"{server.base}/console/knowledge")
    expect(admin_page.locator("#flash")).to_have_text(f"Deleted “{question}”")
    admin_page.goto(f"{server.base}/console/knowledge/{entry['id']}")
    expect(admin_page.get_by_role("heading", level=1)).to_have_text("Entry not found")
    ask_in_playground(admin_page, server, question)
    expect(admin_page.get_by_text(question, exact=True)).to_have_count(0)
    expect(admin_page.get_by_role("link", name=question)).to_have_count(0)


def test_new_entry_form_is_prefilled_from_the_link_of_a_knowledge_gap(admin_page: Page, server: Server) -> None:
    query = urlencode(
        {
            "question": "Can I bring my canoe to the store for a fitting?",
            "answer": "Yes — any weekday & most Saturdays.",
            "alternates": "canoe fitting\ncan you fit my canoe",
        }
    )
    admin_page.goto(f"{server.base}/console/knowledge/new?{query}")
    expect(admin_page.get_by_role("heading", level=1)).to_have_text("New entry")
    expect(admin_page.get_by_label("Question")).to_have_value("Can I bring my canoe to the store for a fitting?")
    expect(admin_page.get_by_label("Answer")).to_have_value("Yes — any weekday & most Saturdays.")
    expect(admin_page.get_by_label("Alternate phrasings")).to_have_value("canoe fitting\ncan you fit my canoe")
    expect(admin_page.get_by_role("link", name="Knowledge", exact=True)).to_have_attribute("aria-current", "page")


def test_article_and_product_forms_name_their_fields_and_save(admin_page: Page, server: Server) -> None:
    admin_page.goto(f"{server.base}/console/knowledge/new")
    admin_page.get_by_role("radio", name="Article").check()
    expect(admin_page.get_by_label("Alternate phrasings")).to_be_hidden()
    admin_page.get_by_label("Title").fill("Caring for a sailcloth kayak cover")
    admin_page.get_by_label("Text").fill("Rinse it in fresh water and dry it in the shade.")
    admin_page.get_by_label("Link").fill("/pages/kayak-cover-care")
    admin_page.get_by_role("button", name="Save entry").click()
    expect(admin_page.locator("#flash")).to_have_text("Saved")
    expect(admin_page.locator(".entry-facts")).to_contain_text("Article")
    expect(admin_page.get_by_label("Link")).to_have_value("/pages/kayak-cover-care")

    admin_page.goto(f"{server.base}/console/knowledge/new")
    admin_page.get_by_role("radio", name="Product").check()
    admin_page.get_by_label("Product name").fill("Sailcloth Kayak Cover")
    admin_page.get_by_label("Description").fill("A UV-proof cover for kayaks up to 14 ft.")
    admin_page.get_by_label("Price").fill("89.50")
    admin_page.get_by_label("Availability").select_option(label="Preorder")
    admin_page.get_by_role("button", name="Save entry").click()
    expect(admin_page.locator("#flash")).to_have_text("Saved")
    expect(admin_page.get_by_label("Price")).to_have_value("89.50")
    expect(admin_page.get_by_label("Availability")).to_have_value("preorder")

    admin_page.get_by_label("Price").fill("-3")
    admin_page.get_by_label("Price").evaluate("input => input.removeAttribute('min')")
    admin_page.get_by_role("button", name="Save entry").click()
    expect(admin_page.locator("#flash")).to_contain_text("Not saved: price")


def _slow_import(page: Page) -> list[Route]:
    """Hold the import request in the browser so the test sees the page while the server is still working."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/api/knowledge/import*", hold)
    return held


def test_import_shows_progress_then_a_report_naming_the_skipped_line(
    admin_page: Page, server: Server, tmp_path: Path
) -> None:
    csv = tmp_path / "kayak-faq.csv"
    csv.write_text(
        "question,answer,alternates\n"
        "Do you sell kayak paddle leashes?,Yes: the coiled Tidewater leash for $24.,paddle leash\n"
        "Can I return a kayak that got wet?,\n"
        "Do you fit kayak roof racks?,Yes: free fitting with any rack bought in store.,\n"
    )
    held = _slow_import(admin_page)
    admin_page.goto(f"{server.base}/console/knowledge")
    admin_page.get_by_label("File to import").set_input_files(csv)
    admin_page.get_by_role("button", name="Import", exact=True).click()

    progress = admin_page.locator("#import-progress")
    expect(progress).to_be_visible()
    expect(progress.get_by_role("progressbar")).to_be_visible()
    expect(progress.get_by_role("status")).to_have_text(re.compile(r"Uploading kayak-faq\.csv|Importing and indexing"))
    for _ in range(250):  # the browser hands the held request over while Playwright waits on something
        if held:
            break
        admin_page.wait_for_timeout(20)
    assert held, "the import request was not sent"
    expect(progress).to_be_visible()
    held[0].continue_()

    report = admin_page.locator("#import-report")
    expect(report).to_contain_text("Imported 2 entries, skipped 1 row.")
    skipped = report.get_by_role("table", name="Skipped rows")
    expect(skipped.get_by_role("row").nth(1)).to_have_text(re.compile(r"kayak-faq\.csv\s*3\s*.*answer"))
    expect(progress).to_be_hidden()

    search_entries(admin_page, server, "roof racks")
    expect(entries_table(admin_page)).to_contain_text("Do you fit kayak roof racks?")
    search_entries(admin_page, server, "got wet")
    expect(admin_page.locator("#entries-summary")).to_contain_text("No entries match")


def test_unreadable_file_imports_nothing_and_says_why(admin_page: Page, server: Server, tmp_path: Path) -> None:
    bad = tmp_path / "orders.csv"
    bad.write_text("order,total\nA-100,12.00\n")
    admin_page.goto(f"{server.base}/console/knowledge")
    admin_page.get_by_label("File to import").set_input_files(bad)
    admin_page.get_by_role("button", name="Import", exact=True).click()

    report = admin_page.locator("#import-report")
    expect(report).to_contain_text("Nothing was imported from orders.csv")
    expect(report).to_contain_text("unrecognised columns (order, total)")
    expect(admin_page.locator("#flash")).to_have_attribute("data-kind", "error")
    search_entries(admin_page, server, "expedited")
    expect(entries_table(admin_page)).to_contain_text("Do you offer expedited or overnight shipping?")


def test_script_in_an_entry_is_shown_as_text_and_never_run(admin_page: Page, server: Server) -> None:
    title = "<script>window.__pwned = 'title'</script>Do kayak paddles float?"
    body = "<img src=x onerror=\"window.__pwned = 'body'\">Yes, every paddle we sell floats."
    entry = create_faq(server, title, body)

    search_entries(admin_page, server, "kayak paddles float")
    expect(entries_table(admin_page).get_by_role("link", name=title)).to_be_visible()
    admin_page.goto(f"{server.base}/console/knowledge/{entry['id']}")
    expect(admin_page.get_by_label("Question")).to_have_value(title)
    expect(admin_page.get_by_label("Answer")).to_have_value(body)
    ask_in_playground(admin_page, server, title)
    expect(admin_page.locator("#answer-text")).to_have_text(body)
    expect(admin_page.locator("#entry-chosen")).to_contain_text(title)
    assert admin_page.evaluate("window.__pwned") is None


def test_playground_accepts_a_question_in_the_address_and_explains_handoffs(admin_page: Page, server: Server) -> None:
    admin_page.goto(f"{server.base}/console/playground?{urlencode({'q': 'How long does standard shipping take?'})}")
    expect(admin_page.get_by_label("Question")).to_have_value("How long does standard shipping take?")
    expect(admin_page.get_by_role("heading", name="The agent would answer")).to_be_focused()
    expect(admin_page.locator("#entry-chosen")).to_contain_text("How long does standard shipping take?")
    expect(admin_page.get_by_role("table").get_by_role("row")).not_to_have_count(0)

    ask_in_playground(admin_page, server, "Which planet has the most moons?")
    expect(admin_page.get_by_role("heading", name="The agent would hand off")).to_be_visible()
    expect(admin_page.locator("#result")).to_contain_text("Unknown:")
    expect(admin_page.locator("#handoff-reason")).to_contain_text("below the threshold")
    expect(admin_page.locator("#threshold")).to_have_text(re.compile(r"\d\.\d\d"))

    ask_in_playground(admin_page, server, "I want to talk to a human")
    expect(admin_page.locator("#result")).to_contain_text("HumanRequested: the shopper asked for a person")

    ask_in_playground(admin_page, server, "hello there")
    expect(admin_page.locator("#result")).to_contain_text("SmallTalk: a greeting")


def test_playground_works_from_the_keyboard_on_a_tablet(browser: Browser, server: Server, admin_account: str) -> None:
    context = browser.new_context(viewport={"width": 768, "height": 1024})
    page = context.new_page()
    try:
        sign_in_admin(page, server, "/console/playground")
        expect(page.get_by_label("Question")).to_be_focused()
        page.keyboard.type("How much does shipping cost?")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="The agent would answer")).to_be_focused()
        for path in ("/console/playground", "/console/knowledge", "/console/knowledge/new"):
            page.goto(f"{server.base}{path}")
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} scrolls sideways on a 768px tablet"
    finally:
        context.close()


AGENT_EMAIL = "kb-agent@juniper.example"


@pytest.fixture(scope="module")
def agent_account(server: Server, database_url_for_module: str) -> str:
    create_user(server, database_url_for_module, AGENT_EMAIL, role="agent")
    return AGENT_EMAIL


@pytest.mark.parametrize("path", ["/console/knowledge", "/console/knowledge/new", "/console/playground?q=hi"])
def test_signed_in_agent_gets_the_403_page(browser: Browser, server: Server, agent_account: str, path: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{server.base}/signin")
        page.get_by_label("Email").fill(agent_account)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        response = page.goto(f"{server.base}{path}")
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Not for your role")
        expect(page.get_by_text("This page needs the admin role")).to_be_visible()
        expect(page.get_by_label("Question")).to_have_count(0)
    finally:
        context.close()


def test_the_knowledge_page_shows_the_threshold_in_force_and_its_labelled_questions(
    admin_page: Page, server: Server
) -> None:
    shown = server.api("GET", "/api/knowledge/threshold")
    admin_page.goto(f"{server.base}/console/knowledge")
    panel = admin_page.get_by_role("region", name="When the agent answers")
    expect(panel.locator("#threshold")).to_contain_text(
        re.compile(rf"Confidence an answer needs\s*{shown['threshold']:.2f}")
    )
    expect(panel).to_contain_text(
        re.compile(rf"Labelled questions\s*{shown['labelled']}: {shown['should_answer']} it should answer")
    )
    assert shown["source"] == "default"  # nobody has labelled a question on this server yet
    expect(panel).to_contain_text("the shipped default, until there are 10 labelled questions")
