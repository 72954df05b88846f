"""API shapes of the metrics."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Overview(BaseModel):
    conversations: int
    resolved: int
    routed_to_team: int
    unresolved: int
    no_question: int
    resolution_rate: float | None = Field(description="resolved / (conversations − no_question); null with none")
    routed_to_team_rate: float | None = Field(description="routed_to_team / (conversations − no_question)")
