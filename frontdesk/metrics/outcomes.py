"""Each conversation's outcome, as DESIGN.md "Metrics" defines it, with the reason behind it."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    resolved = "resolved"
    routed_to_team = "routed_to_team"
    unresolved = "unresolved"
    no_question = "no_question"


def outcome_of(
    *,
    questions: int,
    answered: int,
    last_decision: str | None,
    last_question: str | None,
    small_talk: bool,
    handoff_method: str | None,
    handoff_reason: str | None,
    declined: bool,
    unhelpful: int = 0,
) -> tuple[Outcome, str]:
    """The outcome from running counts of the agent's decisions on shopper questions.

    Resolved means every question was answered: one left unanswered (do not hand off, or the shopper said no to a
    person) leaves the conversation unresolved even when a later one was answered. A handoff accepted (a ticket on
    its way or made) is routed to the team whatever came before. An answer the shopper rated "didn't help"
    (`unhelpful` of them) is not an answer.
    """
    if handoff_method:
        return Outcome.routed_to_team, f"handed off ({handoff_method}): {handoff_reason or 'no reason given'}"
    if not questions:
        return Outcome.no_question, "greetings only" if small_talk else "no question asked"
    if answered - unhelpful >= questions:
        return Outcome.resolved, f"answered {answered} question{'s' if answered != 1 else ''}"
    if unhelpful:
        rated = f"{unhelpful} answer{'s' if unhelpful != 1 else ''}"
        return Outcome.unresolved, f"the shopper rated {rated} of {answered} “didn't help”"
    why = "the shopper said no to a person" if declined else "no handoff"
    left = questions - answered
    if last_decision == "answer":  # the last was answered; an earlier one was not
        return Outcome.unresolved, f"{left} of {questions} questions not answered ({why})"
    what = "asked for a person" if last_decision == "human_requested" else "could not answer"
    return Outcome.unresolved, f"{what}: {(last_question or '')[:200]!r} ({why})"
