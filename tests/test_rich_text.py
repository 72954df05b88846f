"""The server's reading of the rich-text subset, held to the cases the widget's renderer is held to too
(tests/rich_text_cases.json; the widget's side is tests/webchat/test_rich_text_js.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from frontdesk import rich_text

CASES: dict[str, Any] = json.loads((Path(__file__).parent / "rich_text_cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda case: case["markdown"][:40])
def test_the_server_draws_each_case_as_the_widget_must(case: dict[str, str]) -> None:
    assert rich_text.html(case["markdown"]) == case["html"]


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda case: case["markdown"][:40])
def test_a_text_message_keeps_the_words_and_the_addresses_without_markup(case: dict[str, str]) -> None:
    assert rich_text.plain(case["markdown"]) == case["plain"]


@pytest.mark.parametrize("case", CASES["sanitised"], ids=lambda case: case["markdown"][:40])
def test_saving_keeps_the_subset_and_drops_tags_and_unsafe_links(case: dict[str, str]) -> None:
    assert rich_text.sanitise(case["markdown"]) == case["sanitised"]


def test_the_custom_message_loses_its_markdown_in_a_text() -> None:
    custom = "We can't help by text. **Write to us** at [our help page](https://shop.example/help)."

    assert rich_text.plain(custom) == "We can't help by text. Write to us at our help page: https://shop.example/help."


def test_a_link_with_parentheses_that_survives_saving_is_a_link_in_a_text_too() -> None:
    saved = rich_text.sanitise("Sizes: [guide](https://en.wikipedia.org/wiki/Shoe_size_(disambiguation)).")

    assert rich_text.plain(saved) == "Sizes: guide: https://en.wikipedia.org/wiki/Shoe_size_(disambiguation)."


def test_what_saving_keeps_reads_the_same_when_saved_again() -> None:
    for case in CASES["cases"] + CASES["sanitised"]:
        once = rich_text.sanitise(case["markdown"])
        assert rich_text.sanitise(once) == once
        assert rich_text.html(once) == rich_text.html(rich_text.sanitise(once))
