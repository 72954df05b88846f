"""What the outbox worker delivers through: one `Delivery` per kind of row (a helpdesk ticket, a ticket message, an
email, a text), registered by the app in `Deliveries`; the errors a delivery raises, which the worker sorts into
wait, retry and give up; and the request budget of a target that the worker's transport spends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from frontdesk.token_bucket import TokenBucket


class DeliveryError(Exception):
    """A delivery that failed; `retryable` says whether the same call may succeed later, `retry_after` (seconds) when
    the target said when."""

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class RateLimited(DeliveryError):
    """The target refused for now (429): its budget pauses until its Retry-After, and the call was not made."""


class NotConfigured(DeliveryError):
    """The target is not set up (SMTP, an account not connected): the row waits for the admin, never given up."""


class Waiting(Exception):
    """A row that cannot go yet (a ticket message before its ticket exists, or behind an earlier message)."""


class Delivery(Protocol):
    """Sends one outbox row of the kinds it is registered for. The worker holds the row's lease and handles what is
    raised; `transport` carries any HTTP request and spends the row's target's budget."""

    async def deliver(self, item_id: int, transport: httpx.AsyncBaseTransport) -> None: ...


def kind_name(kind: str) -> str:
    """A row's kind without its message seq: `ticket_message:12` → `ticket_message`."""
    return kind.partition(":")[0]


class Deliveries:
    """The deliveries this process runs, by the kind of row they send (`handoff`, `ticket_message`, `reply_email`,
    `sms`, …), and the request budgets of the targets that have one."""

    def __init__(
        self, by_kind: Mapping[str, Delivery] | None = None, budgets: Mapping[str, RequestBudget] | None = None
    ) -> None:
        self._by_kind = dict(by_kind or {})
        self.budgets = dict(budgets or {})

    def of(self, kind: str) -> Delivery:
        try:
            return self._by_kind[kind_name(kind)]
        except KeyError:
            raise LookupError(f"no delivery of outbox rows of the kind {kind!r} runs in this process") from None


class RequestBudget:
    """A token bucket of requests for one target in this worker: at most `capacity` at once, refilled at
    `per_second`. A 429 pauses it until the target's Retry-After. Tokens may go a few below zero (a delivery that
    started with one left makes its two or three requests); the rates leave room for that."""

    def __init__(self, capacity: float, per_second: float) -> None:
        self.bucket = TokenBucket(capacity, per_second, capacity)
        self.paused_until: datetime | None = None

    @property
    def tokens(self) -> float:
        return self.bucket.tokens

    def wait(self, now: datetime) -> float:
        """Seconds until a request may go (0: now)."""
        if self.paused_until is not None and now < self.paused_until:
            return (self.paused_until - now).total_seconds()
        return self.bucket.wait(now.timestamp())

    def spend(self, now: datetime) -> None:
        self.bucket.spend(now.timestamp())

    def pause(self, now: datetime, seconds: float) -> None:
        until = now + timedelta(seconds=seconds)
        self.paused_until = max(until, self.paused_until) if self.paused_until else until
        self.bucket.tokens = min(self.bucket.tokens, 0.0)
