"""Each conversation's outcome, as DESIGN.md "Metrics" defines it, with the reason behind it."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Outcome(StrEnum):
    resolved = "resolved"
    routed_to_team = "routed_to_team"
    unresolved = "unresolved"
    no_question = "no_question"


QUESTION_DECISIONS = frozenset({"answer", "unknown", "human_requested"})


def outcome_of(
    decisions: Sequence[tuple[str, str]], handoff_method: str | None, handoff_reason: str | None, declined: bool
) -> tuple[Outcome, str]:
    """The outcome from the agent's decisions on shopper messages, (decision, question) oldest first.

    A question answered after an earlier one was not still counts as resolved: the shopper got an answer in the
    end. A handoff accepted (a ticket on its way or made) is routed to the team whatever came before.
    """
    if handoff_method:
        return Outcome.routed_to_team, f"handed off ({handoff_method}): {handoff_reason or 'no reason given'}"
    questions = [(d, q) for d, q in decisions if d in QUESTION_DECISIONS]
    if not questions:
        return Outcome.no_question, "greetings only" if decisions else "no question asked"
    last, question = questions[-1]
    if last == "answer":
        answered = sum(1 for d, _ in questions if d == "answer")
        return Outcome.resolved, f"answered {answered} question{'s' if answered != 1 else ''}"
    why = "the shopper said no to a person" if declined else "no handoff"
    what = "asked for a person" if last == "human_requested" else "could not answer"
    return Outcome.unresolved, f"{what}: {question[:200]!r} ({why})"
