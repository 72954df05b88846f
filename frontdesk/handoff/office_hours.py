"""Office hours: per weekday opening times in the store's time zone, and holidays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OfficeHoursError(ValueError):
    """Office hours that cannot be understood, naming the day or field."""


def parse_time(value: str, where: str) -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes)) if value != "24:00" else time.max
    except ValueError as exc:
        raise OfficeHoursError(f"{where}: {value!r} is not a time like 09:00") from exc


def validate(schedule: Mapping[str, Sequence[Sequence[str]]], timezone: str, holidays: Sequence[str]) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise OfficeHoursError(f"timezone: {timezone!r} is not a known time zone (e.g. America/Los_Angeles)") from exc
    for day, spans in schedule.items():
        if day not in WEEKDAYS:
            raise OfficeHoursError(f"office_hours: {day!r} is not a weekday ({', '.join(WEEKDAYS)})")
        for span in spans:
            if len(span) != 2:
                raise OfficeHoursError(f"office_hours.{day}: each span is [opens, closes]")
            opens, closes = parse_time(span[0], f"office_hours.{day}"), parse_time(span[1], f"office_hours.{day}")
            if closes <= opens:
                raise OfficeHoursError(f"office_hours.{day}: {span[1]} is not after {span[0]}")
    for holiday in holidays:
        try:
            date.fromisoformat(holiday)
        except ValueError as exc:
            raise OfficeHoursError(f"holidays: {holiday!r} is not a date like 2026-12-25") from exc


def is_open(
    now: datetime, schedule: Mapping[str, Sequence[Sequence[str]]], timezone: str, holidays: Sequence[str]
) -> bool:
    """Whether `now` (aware) falls within office hours: never on a holiday (in the store's time zone); otherwise,
    with no weekly schedule at all, always."""
    local = now.astimezone(ZoneInfo(timezone))
    if local.date().isoformat() in set(holidays):
        return False
    if not schedule:
        return True
    spans = schedule.get(WEEKDAYS[local.weekday()], [])
    moment = local.time().replace(tzinfo=None)
    return any(parse_time(a, "office_hours") <= moment < parse_time(b, "office_hours") for a, b in spans)
