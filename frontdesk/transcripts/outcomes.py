"""Each conversation's outcome, as DESIGN.md "Metrics" defines it, with the reason behind it: kept up to date by the
turn and by the ticket's creation, read by metrics."""

from __future__ import annotations

from enum import StrEnum

from frontdesk.transcripts.models import Conversation


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
    ticket_ref: str | None = None,
) -> tuple[Outcome, str]:
    """The outcome from running counts of the agent's decisions on shopper questions.

    Resolved means every question was answered: one left unanswered (do not hand off, or the shopper said no to a
    person) leaves the conversation unresolved even when a later one was answered. A ticket made (`ticket_ref`) is
    routed to the team whatever came before; a handoff still on its way, or one that died undelivered, is not. An
    answer the shopper rated "didn't help" (`unhelpful` of them) is not an answer.
    """
    if ticket_ref:
        return Outcome.routed_to_team, f"handed off ({handoff_method}): {handoff_reason or 'no reason given'}"
    if not questions:
        return Outcome.no_question, "greetings only" if small_talk else "no question asked"
    if answered - unhelpful >= questions:
        return Outcome.resolved, f"answered {answered} question{'s' if answered != 1 else ''}"
    if unhelpful:
        rated = f"{unhelpful} answer{'s' if unhelpful != 1 else ''}"
        return Outcome.unresolved, f"the shopper rated {rated} of {answered} “didn't help”"
    if handoff_method:
        why = f"no ticket in {handoff_method} yet"
    else:
        why = "the shopper said no to a person" if declined else "no handoff"
    left = questions - answered
    if last_decision == "answer":  # the last was answered; an earlier one was not
        return Outcome.unresolved, f"{left} of {questions} questions not answered ({why})"
    what = "asked for a person" if last_decision == "human_requested" else "could not answer"
    return Outcome.unresolved, f"{what}: {(last_question or '')[:200]!r} ({why})"


def update(conversation: Conversation) -> None:
    """The conversation's outcome and its reason from its running counts, after anything that changes them; and
    whether the shopper's "didn't help" ratings changed it."""

    def of(unhelpful: int) -> tuple[Outcome, str]:
        return outcome_of(
            questions=conversation.questions,
            answered=conversation.answered,
            last_decision=conversation.last_decision,
            last_question=conversation.last_question,
            small_talk=conversation.small_talk,
            handoff_method=conversation.handoff_method,
            handoff_reason=conversation.handoff_reason,
            declined=conversation.handoff_declined,
            unhelpful=unhelpful,
            ticket_ref=conversation.ticket_ref,
        )

    outcome, reason = of(conversation.rated_unhelpful)
    conversation.outcome, conversation.outcome_reason = outcome.value, reason
    conversation.feedback_changed = bool(conversation.rated_unhelpful) and outcome is not of(0)[0]
