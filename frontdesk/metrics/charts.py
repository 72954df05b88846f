"""The overview's charts as geometry for inline SVG: the template draws the shapes, no script and no chart library.

Coordinates are in the SVG's own user units (the viewBox); the page scales the drawing to its width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from frontdesk.metrics.schemas import Day

WIDTH, HEIGHT = 520, 240
LEFT, RIGHT, TOP, BOTTOM = 46, 24, 10, 28
#: The stacked bars' outcomes, bottom to top, with their legend labels (colours are the CSS classes' business).
STACK = (
    ("resolved", "Resolved"),
    ("routed_to_team", "Routed to team"),
    ("unresolved", "Unresolved"),
    ("no_question", "No question"),
)
RATES = (("resolution_rate", "Resolution rate"), ("routed_to_team_rate", "Routed-to-team rate"))


@dataclass(frozen=True)
class Tick:
    """A gridline with its label: at height `y` (value axis) or at position `x` (day axis)."""

    at: float
    label: str


@dataclass(frozen=True)
class Bar:
    outcome: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Line:
    name: str
    label: str
    points: str  # the polyline's "x,y x,y" (days without a question leave a gap: one Line per run)
    dots: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Chart:
    """One chart: its value and day axes, and its bars or lines, inside the plot area (left, top) to (right, bottom)."""

    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def _plot_width() -> float:
    return WIDTH - LEFT - RIGHT


def _plot_height() -> float:
    return HEIGHT - TOP - BOTTOM


def _value_ticks(value: int) -> tuple[int, int]:
    """(step, steps) of a count axis reaching `value` in at most five round steps (1, 2, 5, 10, 20, 25, 50, …)."""
    step = 1
    for magnitude in (10**k for k in range(12)):
        candidates = [c * magnitude for c in (1, 2, 2.5, 5) if c * magnitude == int(c * magnitude)]
        fitting = [int(c) for c in candidates if c * 5 >= value]
        if fitting:
            step = fitting[0]
            break
    return step, max(1, math.ceil(value / step))


def _day_ticks(days: list[date]) -> tuple[Tick, ...]:
    """At most about eight day labels, evenly spread, the last day always labelled."""
    if not days:
        return ()
    slot = _plot_width() / len(days)
    every = max(1, math.ceil(len(days) / 8))
    picked = list(range(len(days) - 1, -1, -every))[::-1]
    return tuple(Tick(LEFT + slot * (i + 0.5), f"{days[i]:%b} {days[i].day}") for i in picked)


def outcome_bars(days: list[Day]) -> Chart:
    """Conversations per day, stacked by outcome."""
    step, steps = _value_ticks(max((d.conversations for d in days), default=0))
    top_value = step * steps
    scale = _plot_height() / top_value
    slot = _plot_width() / max(len(days), 1)
    width = max(slot * 0.7, 1.0)
    bars = []
    for index, day in enumerate(days):
        x = LEFT + slot * index + (slot - width) / 2
        base = HEIGHT - BOTTOM
        for outcome, _ in STACK:
            count = getattr(day, outcome)
            if count:
                height = count * scale
                base -= height
                bars.append(Bar(outcome, round(x, 2), round(base, 2), round(width, 2), round(height, 2)))
    y_ticks = tuple(Tick(round(HEIGHT - BOTTOM - i * step * scale, 2), str(i * step)) for i in range(steps + 1))
    return Chart(y_ticks, _day_ticks([d.day for d in days]), bars=tuple(bars))


def rate_lines(days: list[Day]) -> Chart:
    """The resolution and routed-to-team rates per day, 0 to 100 %; a day with no question has no point."""
    slot = _plot_width() / max(len(days), 1)
    lines = []
    for name, label in RATES:
        runs: list[list[tuple[float, float]]] = [[]]
        for index, day in enumerate(days):
            value = getattr(day, name)
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            point = (round(LEFT + slot * (index + 0.5), 2), round(HEIGHT - BOTTOM - _plot_height() * value, 2))
            runs[-1].append(point)
        for run in runs:
            if run:
                lines.append(Line(name, label, " ".join(f"{x},{y}" for x, y in run), tuple(run)))
    y_ticks = tuple(Tick(round(HEIGHT - BOTTOM - _plot_height() * i / 4, 2), f"{25 * i}%") for i in range(5))
    return Chart(y_ticks, _day_ticks([d.day for d in days]), lines=tuple(lines))
