"""Each conversation's outcome, as DESIGN.md "Metrics" defines it: resolved only when no question was left
unanswered."""

from __future__ import annotations

import pytest

from frontdesk.transcripts.outcomes import Outcome, outcome_of


def outcome(
    questions: int, answered: int, last: str | None, method: str | None = None, declined: bool = False,
    ticket: str | None = None,
):  # fmt: skip
    return outcome_of(
        questions=questions, answered=answered, last_decision=last, last_question="where is my order?",
        small_talk=False, handoff_method=method, handoff_reason="the agent could not answer", declined=declined,
        ticket_ref=ticket,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("questions", "answered", "last", "method", "declined", "expected"),
    [
        (2, 2, "answer", None, False, Outcome.resolved),
        (2, 1, "answer", None, False, Outcome.unresolved),  # an earlier question went unanswered (do not hand off)
        (2, 1, "answer", None, True, Outcome.unresolved),  # an earlier one unanswered, and the shopper said no
        (2, 1, "unknown", None, False, Outcome.unresolved),
        (1, 0, "human_requested", None, True, Outcome.unresolved),
        (0, 0, None, None, False, Outcome.no_question),
    ],
)
def test_resolved_means_no_question_was_left_unanswered(
    questions: int, answered: int, last: str | None, method: str | None, declined: bool, expected: Outcome
) -> None:
    assert outcome(questions, answered, last, method, declined)[0] is expected


def test_routed_to_team_means_a_ticket_exists() -> None:
    assert outcome(3, 1, "unknown", "builtin", ticket="inbox-7") == (
        Outcome.routed_to_team, "handed off (builtin): the agent could not answer"
    )  # fmt: skip
    # accepted and on its way, or dead in the outbox: no ticket, so not routed
    assert outcome(3, 1, "unknown", "zendesk") == (
        Outcome.unresolved, "could not answer: 'where is my order?' (no ticket in zendesk yet)"
    )  # fmt: skip


def test_the_reason_says_how_many_questions_were_left_unanswered() -> None:
    assert outcome(3, 2, "answer")[1] == "1 of 3 questions not answered (no handoff)"
    assert outcome(2, 1, "unknown", declined=True)[1] == (
        "could not answer: 'where is my order?' (the shopper said no to a person)"
    )
