"""Phone numbers as the SMS channel stores and compares them: E.164 ("+14155550123"), parsed with phonenumbers."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    """Not a phone number we can text; the message says what was wrong, for a 422 or a log line."""


def to_e164(raw: str, default_region: str = "US", *, strict: bool = True) -> str:
    """The E.164 form of `raw` ("(415) 555-0123", "+1 415 555 0123", "004141…"). A number without a country code is
    read as one of `default_region`. `strict` also checks the number is assigned in its country's plan (catches
    typos in what an admin types); `strict=False` only checks its shape, for numbers Twilio itself hands us."""
    text = raw.strip()
    if not text or len(text) > 40:
        raise InvalidPhone("a phone number must be 1 to 40 characters")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{text!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(f"{text!r} has the wrong number of digits for a phone number")
    if strict and not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{text!r} is not a number in use in its country (add the country code, e.g. +1)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
