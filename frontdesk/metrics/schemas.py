"""API shapes of the metrics."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class Outcomes(BaseModel):
    conversations: int
    resolved: int
    routed_to_team: int
    unresolved: int
    no_question: int
    resolution_rate: float | None = Field(description="resolved / (conversations − no_question); null with none")
    routed_to_team_rate: float | None = Field(description="routed_to_team / (conversations − no_question)")


class Overview(Outcomes):
    changed_by_feedback: int = Field(
        description="Conversations whose outcome the shopper's feedback changed (an answer rated “didn't help”)"
    )


class Day(Outcomes):
    """One UTC day's outcomes of the conversations started that day."""

    day: date


class Daily(BaseModel):
    start: date = Field(serialization_alias="from", description="First day, UTC")
    end: date = Field(serialization_alias="to", description="Last day, UTC, inclusive")
    channel: str | None
    days: list[Day] = Field(description="Every day of the range, oldest first; days without conversations count 0")


class GapExample(BaseModel):
    """One phrasing of a gap's question, as a shopper last wrote it, and where."""

    text: str
    asked: int = Field(description="How many times this phrasing was asked")
    last_asked_at: datetime
    conversation_id: str


class GapCandidate(BaseModel):
    """A FAQ that came closest to the gap's question: the gap may be one more way of asking it."""

    id: int
    title: str


class Gap(BaseModel):
    """Questions the agent could not answer that mean the same thing."""

    question: str = Field(description="The group's most typical phrasing")
    count: int = Field(description="How many times the group's questions were asked")
    conversations: int
    last_asked_at: datetime
    examples: list[GapExample]
    draft_answer: str | None = Field(description="A reply a person of the team gave in the built-in inbox")
    draft_conversation_id: str | None
    now_answered: bool = Field(description="The knowledge answers the question now")
    answered_by: str | None = Field(description="Title of the entry that answers it now")
    answered_by_id: int | None
    candidates: list[GapCandidate] = Field(
        description="The FAQs that came closest (the playground's candidates): the question may be added to one"
    )


class Gaps(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    channel: str | None
    questions: int = Field(description="Unanswered questions in the range (grouped below)")
    gaps: list[Gap] = Field(description="Open gaps by how often they were asked, then the ones answered now")


class TeamRow(BaseModel):
    """How the team did on the conversations handed to the built-in inbox: all of them, or one agent's."""

    agent_id: int | None = Field(description="The agent (null: the whole team, or nobody took it, per `agent`)")
    agent: str = Field(description='The agent\'s name, "Whole team" or "Not taken"')
    conversations: int
    ratings: int = Field(description="How many shoppers rated the team after a close")
    csat: float | None = Field(description="Share of ratings that were 4 or 5 of 5 (null with no rating)")
    first_response_seconds: float | None = Field(description="Median time from the handoff to the first reply")
    time_to_close_seconds: float | None = Field(description="Median time from the handoff to the close")


class Team(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    channel: str | None
    overall: TeamRow
    agents: list[TeamRow] = Field(description="One row per agent who had conversations, most conversations first")
