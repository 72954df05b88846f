"""The widget's renderer of the rich-text subset (frontdesk/static/rich-text.js) in chromium, held to the cases the
server's renderer is held to (tests/rich_text_cases.json, tests/test_rich_text.py)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from tests.test_rich_text import CASES

RICH_TEXT_JS = Path(__file__).parents[2] / "frontdesk" / "static" / "rich-text.js"


def test_the_widget_draws_each_case_as_the_server_does(page: Page) -> None:
    page.set_content("<!doctype html><div id=out></div>")
    page.add_script_tag(content=RICH_TEXT_JS.read_text(encoding="utf-8"))

    drawn = page.evaluate(
        """(texts) => texts.map((text) => {
            const out = document.createElement("div");
            renderRich(text, out);
            return out.innerHTML;
        })""",
        [case["markdown"] for case in CASES["cases"]],
    )

    assert drawn == [case["html"] for case in CASES["cases"]]
