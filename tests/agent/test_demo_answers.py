"""The demo store (frontdesk/knowledge/demo) as a newcomer meets it: questions it answers, and ones it hands off."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.agent import engine
from frontdesk.knowledge import importers
from frontdesk.knowledge.schemas import EntryKind
from frontdesk.knowledge.service import EntryView, Knowledge
from frontdesk.retrieval.embedders import Embedder

DEMO = Path(__file__).resolve().parents[2] / "frontdesk" / "knowledge" / "demo"

#: Shopper questions and the entry titles that answer them (any one of them is right).
ANSWERABLE: list[tuple[str, tuple[str, ...]]] = [
    ("how should i clean my tent", ("Can I machine wash my tent?", "Tent care and storage")),
    ("how much is shiping to canada", ("Do you ship to Canada?",)),
    ("wheres my order", ("How do I track my order?",)),
    ("do u take apple pay", ("What payment methods do you accept?",)),
    ("can i pay in instalments", ("What payment methods do you accept?",)),
    ("i want to cancel my order", ("Can I change or cancel my order?",)),
    ("whats the price of the nova headlamp", ("Nova 800 Headlamp",)),
    ("nova headlamp price", ("Nova 800 Headlamp",)),
    ("do you sell water filters", ("Squeeze Water Filter",)),
    ("can i rent a tent for the weekend", ("Do you rent camping gear?",)),
    ("can i wash my sleeping bag in the washer", ("How do I wash a down sleeping bag?",)),
    ("promo code isnt working", ("Why isn't my discount code working?",)),
    ("do gift cards expire", ("Do you sell gift cards?", "Gift cards")),
    ("do you ship to germany", ("Do you ship to Europe or other countries?",)),
    ("do you price match amazon", ("Do you price match?",)),
    ("trekking poles price", ("Carbon Trekking Poles (Pair)",)),
    ("how do points work", ("How does the loyalty program work?",)),
    # the only store is in Portland: "do you have a physical store" is one of this FAQ's phrasings
    ("do you have a store in seattle", ("Where is your store and what are your hours?",)),
    # handed off (the right entry first, below the threshold) before the minilm embedder
    (
        "ridgeline jacket womens size",
        ("What size jacket or top should I order?", "Ridgeline Rain Jacket - Women's", "Size guide"),
    ),
    ("do you fix broken tent poles", ("Do you repair gear?",)),
]
#: Answerable questions the agent is not sure enough of today: it may hand them off, but never answer them from
#: another entry. (Only the product's name ties this one to it; a care FAQ shares more of its words.)
HARD: list[tuple[str, tuple[str, ...]]] = [
    # issue 14: handed off with another entry first before the minilm embedder; now the warranty FAQ or article and
    # the care article come first, below the threshold (0.47 and 0.43 against 0.61)
    ("what is the warranty on a tent?", ("What warranty do you offer?", "Warranty")),
    ("how should I store my tent after a trip?", ("Tent care and storage",)),
    ("how warm is the ember bag", ("Ember 20°F Down Sleeping Bag",)),
    # the right entry comes first, below the threshold: handed off, never answered from another entry
    ("i forgot my pasword", ("I forgot my password. How do I reset it?",)),
    ("my zipper broke", ("What warranty do you offer?", "Do you repair gear?")),
    # issue 14: it answered with the US shipping times (0.81); the Canada FAQ now comes first, below the threshold
    ("ok, how long does shipping to canada take?", ("Do you ship to Canada?",)),
    # the product's page and the restock FAQ compete: handed off
    ("is the switchback pack in stock", ("Switchback 55L Backpacking Pack",)),
]
#: Questions the demo knowledge does not cover: the agent must hand off.
#: Not here, answered wrong by the minilm engine: "Do you offer gift wrapping?" (the gift cards FAQ, 0.64 against
#: 0.61). It counts against the share below, which is what the threshold promises.
UNKNOWN: list[str] = [
    "do you sell kayaks",
    "can you recommend a campsite near bend",
    "what's the weather in portland",
    "is my credit card number safe with you",
    "do you sell bikes",
    "can i bring my dog to the store",
    "do you sell fishing rods",
    "what's the best trail near mount hood",
    "who won the game last night",
    "do you offer student discounts",
    "can i get a job at your store",
    "do you sell hunting rifles",
    "how do i start a campfire without matches",
    "is the store wheelchair accessible",
    "do you sell climbing shoes",
    # answered from the sustainability FAQ ("are you eco friendly") until questions were read alone (0.72 -> 0.56)
    "are you hiring",
]


@pytest.fixture(scope="module")
def demo(embedder: Embedder) -> Knowledge:
    views: list[EntryView] = []
    for path in sorted(DEMO.iterdir()):
        for row in importers.parse(path).rows:
            e = row.entry
            views.append(
                EntryView(
                    len(views) + 1,
                    EntryKind(e.kind),
                    e.ref,
                    e.title,
                    tuple(e.alternates),
                    e.body,
                    e.url,
                    e.price,
                    e.availability,
                )
            )
    store = Knowledge(embedder)
    store.put(views)
    return store


def ask(knowledge: Knowledge, question: str) -> engine.Decision:
    return engine.decide(engine.Dialogue.single(question), knowledge)


@pytest.mark.parametrize(("question", "titles"), ANSWERABLE)
def test_demo_question_is_answered_from_the_right_entry(
    demo: Knowledge, question: str, titles: tuple[str, ...]
) -> None:
    decision = ask(demo, question)
    assert isinstance(decision, engine.Answer), decision
    assert decision.entry.title in titles


@pytest.mark.parametrize(("question", "titles"), HARD)
def test_hard_demo_question_is_handed_off_or_answered_from_the_right_entry(
    demo: Knowledge, question: str, titles: tuple[str, ...]
) -> None:
    decision = ask(demo, question)
    assert isinstance(decision, engine.Unknown | engine.Answer), decision
    if isinstance(decision, engine.Answer):
        assert decision.entry.title in titles


@pytest.mark.parametrize("question", UNKNOWN)
def test_demo_question_outside_the_knowledge_is_handed_off(demo: Knowledge, question: str) -> None:
    assert isinstance(ask(demo, question), engine.Unknown)


def test_the_demo_hands_off_at_least_85_percent_of_the_questions_it_does_not_cover(demo: Knowledge) -> None:
    # issue 14's floor: hand-off recall >= 0.85 (the threshold is chosen at 10 % wrong answers on store pages)
    uncovered = [*UNKNOWN, "Do you offer gift wrapping?"]
    handed_off = [isinstance(ask(demo, question), engine.Unknown) for question in uncovered]
    assert sum(handed_off) / len(uncovered) >= 0.85


#: A shipping question, then a follow-up about something no entry covers (issue 14: it got the shipping answer).
UNRELATED_FOLLOW_UPS: list[tuple[str, str]] = [
    ("how long does shipping take?", "what about parking near your warehouse?"),
    ("how long does standard shipping take?", "what about parking near your warehouse?"),
    ("do you ship to canada?", "what about parking near your warehouse?"),
    ("how much does shipping cost?", "and what about a kayak rental?"),
]
#: Follow-ups that lean on the previous turn: read as what they add to it.
RELATED_FOLLOW_UPS: list[tuple[str, str, str]] = [
    ("how long does shipping take?", "and to canada?", "Do you ship to Canada?"),
]


def follow(knowledge: Knowledge, first: str, second: str) -> engine.Decision:
    messages = [engine.Line("shopper", first), engine.Line("ai", "…"), engine.Line("shopper", second)]
    return engine.decide(engine.Dialogue(messages), knowledge)


@pytest.mark.parametrize(("first", "second"), UNRELATED_FOLLOW_UPS)
def test_a_follow_up_about_something_else_is_handed_off_not_answered_from_the_previous_turn(
    demo: Knowledge, first: str, second: str
) -> None:
    assert isinstance(ask(demo, second), engine.Unknown)
    assert isinstance(follow(demo, first, second), engine.Unknown)


@pytest.mark.parametrize(("first", "second", "title"), RELATED_FOLLOW_UPS)
def test_a_follow_up_is_read_as_what_it_adds_never_answered_from_the_previous_turns_entry(
    demo: Knowledge, first: str, second: str, title: str
) -> None:
    # "and to canada?" after a shipping-time question: the Canada FAQ comes first (answered or, as the minilm
    # engine is not sure enough of it, handed off), never the shipping-time answer the joined reading prefers
    decision = follow(demo, first, second)
    best = decision.entry if isinstance(decision, engine.Answer) else decision.best  # type: ignore[union-attr]
    assert isinstance(decision, engine.Answer | engine.Unknown), decision
    assert best is not None and best.title == title
