"""The dashboard's numbers: outcomes over a date range and channel, traceable to the conversations behind them, and
the knowledge gaps."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Date, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.agent import engine
from frontdesk.inbox import service as inbox
from frontdesk.knowledge.schemas import EntryKind
from frontdesk.knowledge.service import Knowledge
from frontdesk.metrics import gaps as grouping
from frontdesk.metrics.schemas import Daily, Day, Gap, GapCandidate, GapExample, Gaps, Overview, Team, TeamRow
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Conversation
from frontdesk.transcripts.outcomes import Outcome

#: The longest range the per-day series and the gaps are computed for.
MAX_DAYS = 366
#: The days shown when no range is asked for: the last 30, today included.
DEFAULT_DAYS = 30
#: The newest unanswered questions grouped into gaps; older ones in a larger range are left out.
MAX_GAP_QUESTIONS = 5000


class RangeError(ValueError):
    """A date range the metrics cannot be computed for."""


def check_range(start: date, end: date) -> None:
    if end < start:
        raise RangeError("to is before from")
    if (end - start).days + 1 > MAX_DAYS:
        raise RangeError(f"the range is longer than {MAX_DAYS} days")


def bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """[low, high) in UTC for whole days from `start` to `end` inclusive; None for an open end."""
    low = datetime.combine(start, time.min, UTC) if start else None
    high = datetime.combine(end + timedelta(days=1), time.min, UTC) if end else None
    return low, high


def _counted(counts: Mapping[Outcome, int]) -> dict[str, int | float | None]:
    total = sum(counts.values())
    with_question = total - counts[Outcome.no_question]

    def rate(outcome: Outcome) -> float | None:
        return round(counts[outcome] / with_question, 4) if with_question else None

    return {
        "conversations": total,
        "resolved": counts[Outcome.resolved],
        "routed_to_team": counts[Outcome.routed_to_team],
        "unresolved": counts[Outcome.unresolved],
        "no_question": counts[Outcome.no_question],
        "resolution_rate": rate(Outcome.resolved),
        "routed_to_team_rate": rate(Outcome.routed_to_team),
    }


def _in_range(start: date | None, end: date | None, channel: str | None) -> list[ColumnElement[bool]]:
    return conversations.started(*bounds(start, end), channel)


async def overview(
    session: AsyncSession, start: date | None = None, end: date | None = None, channel: str | None = None
) -> Overview:
    """Counts per outcome of the conversations started between `start` and `end` (inclusive days, UTC)."""
    query = (
        select(Conversation.outcome, func.count()).where(*_in_range(start, end, channel)).group_by(Conversation.outcome)
    )
    counts = dict.fromkeys(Outcome, 0)
    for outcome, count in (await session.execute(query)).all():
        counts[Outcome(outcome)] = count
    changed = select(func.count()).where(*_in_range(start, end, channel), Conversation.feedback_changed.is_(True))
    return Overview.model_validate({**_counted(counts), "changed_by_feedback": await session.scalar(changed) or 0})


def _utc_day(session: AsyncSession) -> ColumnElement[object]:
    """The UTC day a conversation started, as SQL of the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        # date() of a timestamptz is the day in the session's time zone: convert to UTC first. The zone is written
        # as a literal so the SELECT and the GROUP BY hold the very same expression.
        return cast(func.timezone(literal_column("'UTC'"), Conversation.created_at), Date)
    return func.date(Conversation.created_at)  # SQLite stores UTC text: its first ten characters are the day


async def daily(session: AsyncSession, start: date, end: date, channel: str | None = None) -> Daily:
    """Every day from `start` to `end` (UTC, inclusive) with the outcomes of the conversations started that day."""
    check_range(start, end)
    day = _utc_day(session).label("day")
    query = (
        select(day, Conversation.outcome, func.count())
        .where(*_in_range(start, end, channel))
        .group_by(day, Conversation.outcome)
    )
    per_day: dict[date, dict[Outcome, int]] = {}
    for when, outcome, count in (await session.execute(query)).all():
        key = when if isinstance(when, date) else date.fromisoformat(str(when))
        per_day.setdefault(key, dict.fromkeys(Outcome, 0))[Outcome(outcome)] = count
    days = []
    for offset in range((end - start).days + 1):
        current = start + timedelta(days=offset)
        days.append(Day.model_validate({"day": current, **_counted(per_day.get(current, dict.fromkeys(Outcome, 0)))}))
    return Daily(start=start, end=end, channel=channel, days=days)


async def knowledge_gaps(
    session: AsyncSession,
    knowledge: Knowledge,
    start: date,
    end: date,
    channel: str | None = None,
    threshold: float | None = None,
    max_chars: int = 4000,
) -> Gaps:
    """The questions asked from `start` to `end` that the agent could not answer, grouped by meaning; a group the
    knowledge answers now (its typical question would get an answer) comes after the open ones, marked so."""
    check_range(start, end)
    low, high = bounds(start, end)
    asked = await conversations.unanswered_questions(session, low, high, channel, MAX_GAP_QUESTIONS)
    # Embedding, grouping and asking the agent again are CPU work: off the event loop, like the playground's.
    found = await asyncio.to_thread(_gaps, asked, knowledge, threshold, max_chars)
    return Gaps(start=start, end=end, channel=channel, questions=len(asked), gaps=found)


def _gaps(
    asked: list[conversations.Unanswered], knowledge: Knowledge, threshold: float | None, max_chars: int
) -> list[Gap]:
    found = [_gap(group, knowledge, threshold, max_chars) for group in grouping.group(asked, knowledge.index.embedder)]
    found.sort(key=lambda gap: gap.now_answered)  # stable: each part keeps its ranking
    return found


def _gap(group: grouping.Group, knowledge: Knowledge, threshold: float | None, max_chars: int) -> Gap:
    typical = group.typical
    draft = group.draft_answer()
    decision = engine.decide(engine.Dialogue.single(typical.text), knowledge, threshold, max_chars)
    answered = isinstance(decision, engine.Answer)
    # The typical phrasing first, then the most asked, then the most recently asked.
    examples = sorted(group.phrasings, key=lambda p: (p is not typical, -len(p.asked), -p.last_asked_at.timestamp()))
    examples = examples[: grouping.EXAMPLES]
    return Gap(
        question=typical.text,
        count=group.count,
        conversations=group.conversations,
        last_asked_at=group.last_asked_at,
        examples=[_example(p) for p in examples],
        draft_answer=draft.reply if draft else None,
        draft_conversation_id=draft.conversation_id if draft else None,
        now_answered=answered,
        answered_by=decision.entry.title if isinstance(decision, engine.Answer) else None,
        answered_by_id=decision.entry.id if isinstance(decision, engine.Answer) else None,
        candidates=_candidates(decision),
    )


def _candidates(decision: engine.Decision) -> list[GapCandidate]:
    """The FAQs the engine ranked closest to a gap's question, best first (at most three)."""
    closest = [decision.entry] if isinstance(decision, engine.Answer) else []
    if isinstance(decision, engine.Unknown) and decision.best is not None:
        closest.append(decision.best)
    closest += [runner.entry for runner in getattr(decision, "runners_up", ())]
    seen: dict[int, GapCandidate] = {}
    for entry in closest:
        if entry.kind is EntryKind.faq and entry.id not in seen:
            seen[entry.id] = GapCandidate(id=entry.id, title=entry.title)
    return list(seen.values())[:3]


def _example(phrasing: grouping.Phrasing) -> GapExample:
    newest = phrasing.asked[0]
    return GapExample(
        text=phrasing.text, asked=len(phrasing.asked), last_asked_at=newest.at, conversation_id=newest.conversation_id
    )


#: A rating of 4 or 5 out of 5 is a satisfied shopper (CSAT is the share of those).
SATISFIED = 4


async def team(session: AsyncSession, start: date, end: date, channel: str | None = None) -> Team:
    """CSAT, first response and time to close of the conversations handed to the built-in inbox, for the whole team
    and per agent (the one who took each); Zendesk and Gorgias keep these figures themselves."""
    check_range(start, end)
    rows = await inbox.handled(session, *bounds(start, end), channel)
    per_agent: dict[int | None, list[inbox.Handled]] = {}
    for row in rows:
        per_agent.setdefault(row.agent_id, []).append(row)
    agents = [_team_row(key, group[0].agent or "Not taken", group) for key, group in per_agent.items()]
    agents.sort(key=lambda row: (-row.conversations, row.agent))
    return Team(start=start, end=end, channel=channel, overall=_team_row(None, "Whole team", rows), agents=agents)


def _team_row(agent_id: int | None, name: str, rows: list[inbox.Handled]) -> TeamRow:
    ratings = [row.csat for row in rows if row.csat is not None]
    first = [(row.first_reply_at - row.opened_at).total_seconds() for row in rows
             if row.first_reply_at and row.first_reply_at >= row.opened_at]  # fmt: skip
    closing = [(row.closed_at - row.opened_at).total_seconds() for row in rows if row.closed_at]
    return TeamRow(
        agent_id=agent_id,
        agent=name,
        conversations=len(rows),
        ratings=len(ratings),
        csat=round(sum(r >= SATISFIED for r in ratings) / len(ratings), 4) if ratings else None,
        first_response_seconds=statistics.median(first) if first else None,
        time_to_close_seconds=statistics.median(closing) if closing else None,
    )
