"""How the dashboard says the team's times and CSAT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.console.dashboard_views import duration
from frontdesk.inbox.service import Handled
from frontdesk.metrics.service import _team_row


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(None, "—"), (0, "0 s"), (45.4, "45 s"), (61, "1 min"), (3600, "1 h"), (12_000, "3 h 20 min"),
     (86_400 * 2 + 3600 * 4, "2 d 4 h"), (86_400, "1 d")],
)  # fmt: skip
def test_a_median_time_reads_in_the_largest_units_that_fit(seconds: float | None, said: str) -> None:
    assert duration(seconds) == said


def test_csat_is_the_share_of_four_and_five_and_times_are_medians() -> None:
    opened = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def handled(reply_min: int | None, close_min: int | None, csat: int | None) -> Handled:
        reply = opened + timedelta(minutes=reply_min) if reply_min is not None else None
        closed = opened + timedelta(minutes=close_min) if close_min is not None else None
        return Handled("conv", 7, "Sam", opened, reply, closed, csat)

    row = _team_row(7, "Sam", [handled(1, 10, 5), handled(3, 30, 2), handled(None, None, None), handled(5, 20, 4)])
    assert (row.conversations, row.ratings, row.csat) == (4, 3, 0.6667)
    assert (row.first_response_seconds, row.time_to_close_seconds) == (180.0, 1200.0)
    empty = _team_row(None, "Whole team", [])
    assert (empty.csat, empty.first_response_seconds, empty.time_to_close_seconds) == (None, None, None)
