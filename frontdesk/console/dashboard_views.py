"""The console's dashboard pages: the overview, the conversations behind its numbers with their transcripts, and the
knowledge gaps. Every page reads its filters (days, channel, outcome) from the query string, so each view is a
link an admin can share or come back to."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.config import Settings
from frontdesk.console.pages import PAGE_SIZE, Pager, console_page
from frontdesk.deps import get_session, now_of
from frontdesk.inbox import service as inbox
from frontdesk.knowledge.schemas import MAX_TITLE
from frontdesk.knowledge.service import Knowledge
from frontdesk.metrics import charts, service
from frontdesk.metrics.schemas import Gap
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.outcomes import Outcome
from frontdesk.transcripts.transcript import AUTHORS, iso

pages = APIRouter(prefix="/console", include_in_schema=False)
Session = Annotated[AsyncSession, Depends(get_session)]

MAX_PAGE = 100_000
OUTCOMES = {
    Outcome.resolved.value: "Resolved",
    Outcome.routed_to_team.value: "Routed to team",
    Outcome.unresolved.value: "Unresolved",
    Outcome.no_question.value: "No question",
}
DECISIONS = {
    "answer": "answered",
    "unknown": "could not answer",
    "human_requested": "asked for a person",
    "small_talk": "small talk",
}
#: The shopper's 👍 / 👎 on an AI answer, as the transcript says it.
RATINGS = {"helpful": "the shopper rated it helpful", "not_helpful": "the shopper rated it “didn't help”"}
QUICK_RANGES = (7, 30, 90)
#: Characters of an "Add to knowledge" link: far below the 16 KB a request line may have on the server.
LINK_BUDGET = 8000


@dataclass(frozen=True)
class Filters:
    """The days (UTC, inclusive), channel and outcome a page shows, and what was wrong with the ones asked for."""

    start: date
    end: date
    channel: str | None = None
    outcome: str | None = None
    page: int = 1
    feedback_changed: bool = False
    rated: bool = False
    agent: str | None = None  # an agent's id, or "none": the built-in inbox conversations nobody took
    problems: tuple[str, ...] = field(default=(), compare=False)
    channel_label: str = field(default="all channels", compare=False)

    @classmethod
    def of(cls, request: Request) -> Filters:
        params = request.query_params
        today = now_of(request).date()
        problems: list[str] = []

        def day(name: str) -> date | None:
            raw = params.get(name, "").strip()
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                problems.append(f"“{raw}” is not a date (YYYY-MM-DD); the default is shown instead.")
                return None

        end = day("to") or today
        start = day("from") or end - timedelta(days=service.DEFAULT_DAYS - 1)
        if end < start:
            problems.append("The last day was before the first: they are swapped.")
            start, end = end, start
        if (end - start).days + 1 > service.MAX_DAYS:
            problems.append(f"At most {service.MAX_DAYS} days are shown: the range starts later.")
            start = end - timedelta(days=service.MAX_DAYS - 1)
        channel = params.get("channel") or None
        if channel not in (None, *_channels(request)):
            problems.append(f"There is no channel “{channel}”: all channels are shown.")
            channel = None
        outcome = params.get("outcome") or None
        if outcome not in (None, *OUTCOMES):
            problems.append(f"There is no outcome “{outcome}”: every outcome is shown.")
            outcome = None
        raw_page = params.get("page", "1")
        page = min(int(raw_page), MAX_PAGE) if raw_page.isdigit() and int(raw_page) > 0 else 1
        feedback_changed = params.get("feedback") == "changed"
        rated = params.get("rated") == "1"
        agent = params.get("agent") or None
        if agent is not None and agent != "none" and not (agent.isdigit() and len(agent) < 10):
            problems.append(f"There is no agent “{agent}”: every conversation is shown.")
            agent = None
        label = _channels(request)[channel] if channel else "all channels"
        return cls(start, end, channel, outcome, page, feedback_changed, rated, agent, tuple(problems), label)

    def query(self, **changes: Any) -> str:
        """This view's query string with `changes` (the page goes back to 1 unless given)."""
        changed = replace(self, **{"page": 1, **changes})
        params = {"from": changed.start.isoformat(), "to": changed.end.isoformat()}
        if changed.channel:
            params["channel"] = changed.channel
        if changed.outcome:
            params["outcome"] = changed.outcome
        if changed.feedback_changed:
            params["feedback"] = "changed"
        if changed.rated:
            params["rated"] = "1"
        if changed.agent:
            params["agent"] = changed.agent
        if changed.page > 1:
            params["page"] = str(changed.page)
        return urlencode(params)

    def conversations(self, **changes: Any) -> str:
        """The list of the conversations behind a number of this view."""
        return f"/console/conversations?{self.query(**changes)}"

    def quick(self, today: date) -> list[tuple[str, str, bool]]:
        """(label, query, current) of the usual ranges ending today."""
        out = []
        for days in QUICK_RANGES:
            start = today - timedelta(days=days - 1)
            current = self.start == start and self.end == today
            out.append((f"Last {days} days", self.query(start=start, end=today), current))
        return out

    @property
    def description(self) -> str:
        return f"{_day(self.start)} – {_day(self.end)} (UTC), {self.channel_label}"


def _channels(request: Request) -> dict[str, str]:
    """The channels this app serves (`app.state.channels`), by name, with the console's label of each."""
    return request.app.state.channels.labels()


def _day(value: date) -> str:
    return f"{value:%b} {value.day}, {value:%Y}"


def percent(rate: float | None) -> str:
    """A rate as the page shows it: "50%", "33.3%", or "—" when there was no question to count it over."""
    if rate is None:
        return "—"
    value = round(rate * 100, 1)
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"


def when(at: datetime) -> str:
    """A timestamp as the pages show it (UTC); the ISO form goes in the <time> element's datetime."""
    return iso(at).replace("T", " ").removesuffix("Z") + " UTC"


def duration(seconds: float | None) -> str:
    """A median time as the dashboard says it: "45 s", "12 min", "3 h 20 min", "2 d 4 h"; "—" with none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _page_context(request: Request, filters: Filters) -> dict[str, Any]:
    return {
        "filters": filters,
        "channels": _channels(request),
        "outcomes": OUTCOMES,
        "quick_ranges": filters.quick(now_of(request).date()),
        "percent": percent,
        "when": when,
        "iso": iso,
    }


@pages.get("/overview", response_class=HTMLResponse)
async def overview_page(request: Request, session: Session) -> Response:
    filters = Filters.of(request)
    totals = await service.overview(session, filters.start, filters.end, filters.channel)
    per_day = await service.daily(session, filters.start, filters.end, filters.channel)
    with_question = totals.conversations - totals.no_question
    cards = [
        {
            "label": "Resolution rate",
            "value": percent(totals.resolution_rate),
            "href": filters.conversations(outcome=Outcome.resolved.value),
            "detail": f"{totals.resolved} of {with_question} conversations with a question",
            "key": "resolution_rate",
        },
        {
            "label": "Routed-to-team rate",
            "value": percent(totals.routed_to_team_rate),
            "href": filters.conversations(outcome=Outcome.routed_to_team.value),
            "detail": f"{totals.routed_to_team} of {with_question} conversations with a question",
            "key": "routed_to_team_rate",
        },
        {
            "label": "Conversations",
            "value": str(totals.conversations),
            "href": filters.conversations(outcome=None),
            "detail": "started in the range",
            "key": "conversations",
        },
    ]
    counts = [
        {"label": OUTCOMES[o.value], "value": getattr(totals, o.value), "outcome": o.value,
         "href": filters.conversations(outcome=o.value)}
        for o in (Outcome.resolved, Outcome.routed_to_team, Outcome.unresolved, Outcome.no_question)
    ]  # fmt: skip
    return console_page(
        request,
        "console/overview.html",
        "Overview",
        {
            **_page_context(request, filters),
            "totals": totals,
            "cards": cards,
            "counts": counts,
            "feedback_href": filters.conversations(outcome=None, feedback_changed=True),
            "team": await service.team(session, filters.start, filters.end, filters.channel),
            "duration": duration,
            "agent_href": lambda row: filters.conversations(outcome=None, agent=str(row.agent_id or "none")),
            "rated_href": filters.conversations(outcome=None, rated=True),
            "agent_rated_href": lambda row: filters.conversations(
                outcome=None, rated=True, agent=str(row.agent_id or "none")
            ),
            "handled_href": filters.conversations(outcome=Outcome.routed_to_team.value),
            "days": per_day.days,
            "bars": charts.outcome_bars(per_day.days),
            "rates": charts.rate_lines(per_day.days),
            "stack": charts.STACK,
            "rate_names": charts.RATES,
        },
    )


@pages.get("/conversations", response_class=HTMLResponse)
async def conversations_page(request: Request, session: Session) -> Response:
    filters = Filters.of(request)
    low, high = service.bounds(filters.start, filters.end)

    among = None
    if filters.agent:
        wanted = None if filters.agent == "none" else int(filters.agent)
        among = [row.conversation_id for row in await inbox.handled(session, low, high, filters.channel)
                 if row.agent_id == wanted]  # fmt: skip

    async def listed(page: int) -> tuple[list[conversations.Listed], int]:
        return await conversations.search(
            session, outcome=filters.outcome, since=low, until=high, channel=filters.channel,
            feedback_changed=filters.feedback_changed, rated=filters.rated, among=among,
            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
        )  # fmt: skip

    rows, total = await listed(filters.page)
    if not rows and total:  # past the last page (an old link): show the last one
        filters = replace(filters, page=Pager(filters.page, total).pages)
        rows, total = await listed(filters.page)
    pager = Pager(filters.page, total)
    return console_page(
        request,
        "console/conversations.html",
        "Conversations",
        {
            **_page_context(request, filters),
            "rows": rows,
            "total": total,
            "first": pager.first,
            "pages_count": pager.pages,
        },
    )


@pages.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(conversation_id: str, request: Request, session: Session) -> Response:
    try:
        conversation = await conversations.get(session, conversation_id)
    except conversations.ConversationNotFound:
        return console_page(
            request, "console/conversation.html", "Conversation not found", {"conversation": None}, status=404
        )
    profile = await conversations.profile_of(session, conversation)
    messages = await conversations.messages_after(session, conversation_id, 0)
    events = await conversations.events_of(session, conversation_id)
    lines = []
    for message in messages:
        meta = message.meta or {}
        decision = meta.get("decision") if message.author == "shopper" else None
        confidence = meta.get("confidence")
        lines.append({
            "message": message,
            "author": AUTHORS.get(message.author, message.author),
            "agent": meta.get("agent") if message.author == "agent" else None,
            "decision": DECISIONS.get(str(decision)) if decision else None,
            "decision_key": decision,
            "confidence": f"{confidence:.2f}" if isinstance(confidence, float | int) else None,
            "rating": RATINGS.get(str(meta.get("rating"))) if message.author == "ai" else None,
        })  # fmt: skip
    return console_page(
        request,
        "console/conversation.html",
        "Conversation",
        {
            **_page_context(request, Filters.of(request)),
            "conversation": conversation,
            "profile": profile,
            "lines": lines,
            "events": events,
            "authors": AUTHORS,
        },
    )


def knowledge_link(gap: Gap) -> str:
    """The new FAQ form, pre-filled with the gap's typical question, its other phrasings and the team's reply. A
    very long reply is cut (the admin edits the draft anyway) so the link stays well within a request line's limit."""
    alternates = [example.text[:MAX_TITLE] for example in gap.examples if example.text != gap.question]

    def link(answer: str) -> str:
        params = {"question": gap.question[:MAX_TITLE], "answer": answer}
        if alternates:
            params["alternates"] = "\n".join(alternates)
        return f"/console/knowledge/new?{urlencode(params)}"

    answer = gap.draft_answer or ""
    url = link(answer)
    while len(url) > LINK_BUDGET and answer:
        answer = answer[: len(answer) * 3 // 4]
        url = link(answer.rstrip() + "…" if answer else "")
    return url


@pages.get("/gaps", response_class=HTMLResponse)
async def gaps_page(request: Request, session: Session) -> Response:
    filters = Filters.of(request)
    knowledge: Knowledge = request.app.state.knowledge
    settings: Settings = request.app.state.settings
    found = await service.knowledge_gaps(
        session, knowledge, filters.start, filters.end, filters.channel,
        settings.answer_threshold, settings.max_question_chars,
    )  # fmt: skip
    return console_page(
        request,
        "console/gaps.html",
        "Knowledge gaps",
        {
            **_page_context(request, filters),
            "result": found,
            "open_gaps": [gap for gap in found.gaps if not gap.now_answered],
            "answered_gaps": [gap for gap in found.gaps if gap.now_answered],
            "knowledge_link": knowledge_link,
            "playground_link": lambda gap: f"/console/playground?{urlencode({'q': gap.question})}",
        },
    )
