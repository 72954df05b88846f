"""API shapes of the outbox."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from frontdesk.outbox.service import OutboxStatus


class OutboxItemOut(BaseModel):
    """One row of the outbox as the admin API shows it; `leased_by` names the worker process holding it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: str
    kind: str
    target: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    lease_until: datetime | None
    leased_by: str | None
    retry_until: datetime | None
    ticket_ref: str | None
    created_at: datetime
    delivered_at: datetime | None
