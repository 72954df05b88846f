"""API shapes of the agent's decisions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    previous: list[str] = Field(
        default_factory=list, max_length=20, description="Earlier shopper messages, oldest first"
    )


class EntryRef(BaseModel):
    id: int
    ref: str | None
    kind: str
    title: str
    score: float | None = None


class DecisionOut(BaseModel):
    decision: Literal["answer", "unknown", "human_requested", "small_talk"]
    text: str | None = None
    reason: str | None = None
    confidence: float | None = None
    threshold: float
    entry: EntryRef | None = None
    runners_up: list[EntryRef] = Field(default_factory=list)
