"""A token bucket on an injected clock: the web chat's rate limits and the outbox's helpdesk request budgets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """At most `capacity` tokens, refilled at `per_second`; `at` is when it was last refilled (seconds on the caller's
    clock: monotonic, or a timestamp), None before its first use."""

    capacity: float
    per_second: float
    tokens: float
    at: float | None = None

    def refill(self, now: float) -> None:
        if self.at is not None and now > self.at:
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        if self.at is None or now > self.at:
            self.at = now

    def take(self, now: float) -> bool:
        """Spend a token if there is one; says whether there was."""
        self.refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def spend(self, now: float) -> None:
        """Spend a token even if there is none (the balance may go a few below zero)."""
        self.refill(now)
        self.tokens -= 1

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: now)."""
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.per_second

    def is_full(self, now: float) -> bool:
        """Refilled to capacity by `now`: it holds nothing a new bucket would not."""
        at = now if self.at is None else self.at
        return self.tokens + (now - at) * self.per_second >= self.capacity
