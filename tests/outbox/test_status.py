"""The outbox row's status changes in one guarded place: a row leaves pending once, and only a queued-again or
retried row goes back to pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.outbox import service as outbox
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.service import OutboxStatus, StatusRefused

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def pending() -> OutboxItem:
    return OutboxItem(id=7, kind="handoff", conversation_id="conv_1", target="zendesk", status="pending",
                      lease_until=NOW + timedelta(seconds=60), last_error="timeout")  # fmt: skip


def test_a_delivered_row_keeps_its_ticket_loses_its_lease_and_its_last_error() -> None:
    item = pending()

    outbox.finish(item, OutboxStatus.delivered, NOW, ticket_ref="zendesk-42")

    assert (item.status, item.ticket_ref, item.delivered_at) == ("delivered", "zendesk-42", NOW)
    assert (item.lease_until, item.last_error) == (None, None)


def test_a_dead_row_says_why_and_was_never_delivered() -> None:
    item = pending()

    outbox.finish(item, OutboxStatus.dead, NOW, error="AuthFailed: 401")

    assert (item.status, item.last_error, item.delivered_at, item.lease_until) == (
        "dead",
        "AuthFailed: 401",
        None,
        None,
    )


@pytest.mark.parametrize("first", [OutboxStatus.delivered, OutboxStatus.skipped, OutboxStatus.dead])
@pytest.mark.parametrize("second", [OutboxStatus.delivered, OutboxStatus.skipped, OutboxStatus.dead])
def test_a_finished_row_cannot_be_finished_again(first: OutboxStatus, second: OutboxStatus) -> None:
    """A worker whose lease ran out cannot mark dead what another worker delivered meanwhile, nor the reverse."""
    item = pending()
    outbox.finish(item, first, NOW, ticket_ref="inbox-1" if first is OutboxStatus.delivered else None)

    with pytest.raises(StatusRefused):
        outbox.finish(item, second, NOW + timedelta(seconds=1))

    assert item.status == first.value


def test_pending_is_not_a_way_to_finish() -> None:
    with pytest.raises(StatusRefused):
        outbox.finish(pending(), OutboxStatus.pending, NOW)


def test_a_finished_row_queued_again_is_pending_and_due_now() -> None:
    item = pending()
    outbox.finish(item, OutboxStatus.dead, NOW, error="gave up")

    outbox.reopen(item, NOW + timedelta(hours=1))

    assert (item.status, item.next_attempt_at, item.lease_until) == ("pending", NOW + timedelta(hours=1), None)
