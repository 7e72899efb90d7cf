"""Moments that come from outside: RFC 3339 only, years 2000–2100, offsets in whole minutes; replies in RFC 3339.

Why the bounds: a year like 0808 is a typo, not a campaign, and before 1901 a time zone's offset is its local mean time
(Asia/Shanghai: +08:05:43), which RFC 3339 cannot write. Within 2000–2100 every zone the project uses has offsets in
whole minutes, so a reply always reads back as the moment that was sent.
"""

import re
from datetime import UTC, datetime

FIRST_YEAR, LAST_YEAR = 2000, 2100


def _rfc3339(year: str) -> str:
    # [Tt] and [Zz]: RFC 3339 §5.6 allows either case. Offsets ±HH:MM only: seconds in an offset are not RFC 3339.
    return (
        rf"^{year}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        r"(?:\.[0-9]{1,6})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )


# What replies carry (any four-digit year) and what requests may send (the years above); the OpenAPI schema says both.
RFC3339_PATTERN = _rfc3339(r"[0-9]{4}")
ACCEPTED_PATTERN = _rfc3339(r"(?:20[0-9]{2}|2100)")
_RFC3339 = re.compile(RFC3339_PATTERN)


class DateTimeError(ValueError):
    """`code` says which rule the text broke: "invalid" (not RFC 3339) or "year" (outside FIRST_YEAR–LAST_YEAR)."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


def year_in_range(moment: datetime) -> bool:
    return FIRST_YEAR <= moment.year <= LAST_YEAR


def parse_datetime(value) -> datetime:
    """An aware datetime from an RFC 3339 string whose year (as written) is within range; DateTimeError otherwise."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise DateTimeError("not an RFC 3339 date-time", code="invalid")
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError as exc:  # a day the month does not have, e.g. 2026-02-30
        raise DateTimeError("no such date", code="invalid") from exc
    if not year_in_range(moment):
        raise DateTimeError(f"years {FIRST_YEAR}–{LAST_YEAR} only", code="year")
    return moment


def format_datetime(moment: datetime) -> str:
    """RFC 3339: `moment` as it is (aware), "Z" for UTC. A zone offset with seconds (local mean time, before any
    standard time) cannot be written in RFC 3339, so such a moment is written in UTC."""
    offset = moment.utcoffset()
    if offset is None or offset.seconds % 60 or offset.microseconds:
        moment = moment.astimezone(UTC)
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
