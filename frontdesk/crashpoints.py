"""Named points where a crash test kills the serving process (FRONTDESK_CRASH_AT), to show that nothing is lost.

The flow calls `crash(name)` at each point; only the point named in the settings does anything, and it does what
`kill -9` does: the process ends at once, with no cleanup, no flush and no final commit.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

POINTS = frozenset({"message.stored", "email.stored", "action.written", "action.committed"})


def no_crash(_point: str) -> None:
    return None


def crash_at(point: str | None) -> Callable[[str], None]:
    if point is None:
        return no_crash

    def crash(reached: str) -> None:
        if reached == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return crash
