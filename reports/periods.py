"""The report's range of days as the API and the pages accept it: ?from=YYYY-MM-DD&to=YYYY-MM-DD (both included,
days in settings.TIME_ZONE); by default the last REPORT_DEFAULT_DAYS days up to today."""

import re
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from . import errors
from .errors import InvalidPeriod
from .selectors import Period

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_day(value: str, *, field: str) -> date:
    match = _DATE.match(value)
    try:
        day = date(*map(int, match.groups())) if match else None
    except ValueError:  # 2026-02-30
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        raise InvalidPeriod(errors.INVALID_DATE % {"field": field}, details={field: value[:40]})
    return day


def period_from_query(query) -> Period:
    """The range asked for in a query string (a QueryDict or dict); InvalidPeriod (400) with a stable code."""
    today = timezone.localdate()
    end = parse_day(query["to"], field="to") if query.get("to") else today
    if query.get("from"):
        start = parse_day(query["from"], field="from")
    else:
        start = end - timedelta(days=settings.REPORT_DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidPeriod(
            errors.RANGE_REVERSED % {"start": start.isoformat(), "end": end.isoformat()},
            code="invalid_date_range",
            details={"from": start.isoformat(), "to": end.isoformat()},
        )
    period = Period(start, end)
    if period.days > settings.REPORT_MAX_DAYS:
        raise InvalidPeriod(
            errors.RANGE_TOO_LONG % {"max_days": settings.REPORT_MAX_DAYS},
            code="date_range_too_long",
            details={"max_days": settings.REPORT_MAX_DAYS, "days": period.days},
        )
    return period
