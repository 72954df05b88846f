"""POST /api/agent/ask: what the agent would do with a question (the console's playground uses it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from frontdesk.agent import engine
from frontdesk.agent.schemas import AskIn, DecisionOut, EntryRef
from frontdesk.config import Settings
from frontdesk.deps import get_settings
from frontdesk.knowledge.service import EntryView, Knowledge
from frontdesk.knowledge.views import get_knowledge
from frontdesk.users.access import require_admin

router = APIRouter(prefix="/api/agent", tags=["agent"], dependencies=[Depends(require_admin)])


@router.post("/ask", response_model=DecisionOut)
def ask(
    body: AskIn,
    knowledge: Annotated[Knowledge, Depends(get_knowledge)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> DecisionOut:
    conversation = engine.Dialogue([engine.Line("shopper", t) for t in [*body.previous, body.question]])
    try:
        decision = engine.decide(conversation, knowledge, settings.answer_threshold, settings.max_question_chars)
    except engine.QuestionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return describe(decision, threshold_of(knowledge, settings))


def threshold_of(knowledge: Knowledge, settings: Settings) -> float:
    if settings.answer_threshold is not None:
        return settings.answer_threshold
    return knowledge.index.calibration.threshold


def _ref(entry: EntryView, score: float | None = None) -> EntryRef:
    return EntryRef(id=entry.id, ref=entry.ref, kind=entry.kind.value, title=entry.title, score=score)


def describe(decision: engine.Decision, threshold: float) -> DecisionOut:
    match decision:
        case engine.Answer():
            return DecisionOut(
                decision="answer",
                text=decision.text,
                confidence=round(decision.confidence, 4),
                threshold=threshold,
                entry=_ref(decision.entry),
                runners_up=[_ref(r.entry, round(r.score, 4)) for r in decision.runners_up],
            )
        case engine.Unknown():
            return DecisionOut(
                decision="unknown",
                reason=decision.reason,
                confidence=round(decision.confidence, 4),
                threshold=threshold,
                entry=_ref(decision.best) if decision.best else None,
                runners_up=[_ref(r.entry, round(r.score, 4)) for r in decision.runners_up],
            )
        case engine.HumanRequested():
            return DecisionOut(decision="human_requested", reason=decision.reason, threshold=threshold)
        case engine.SmallTalk():
            return DecisionOut(decision="small_talk", reason=decision.kind, threshold=threshold)
