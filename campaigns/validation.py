"""Checks across the rows of one campaign, shared by the API and the admin formsets.

Each row's own rules live in the model's `clean()` (run through `full_clean()`); what no single row can see lives
here, as plain functions over plain lists. They return `{row index: {field: [messages]}}` — empty when all is well —
so the API turns them into `multiplier_windows[1].starts_at` and an admin formset into `forms[1].add_error(...)`.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.utils.translation import gettext_lazy as _

RowErrors = dict[int, dict[str, list[str]]]

WINDOWS_OVERLAP = _("Multiplier windows must not overlap: a moment has one multiplier.")
CATEGORY_TWICE = _("%(category)s already has a rate in this campaign; list each category once.")


def multiplier_windows_overlap(windows: Sequence[tuple[datetime | None, datetime | None]]) -> RowErrors:
    """Windows are [starts_at, ends_at): one that ends when the next starts does not overlap it. Each overlapping
    window after the first (by start) gets an error on `starts_at`. Rows without both times, or ending before they
    start, are skipped: the model's own clean() already reports them."""
    usable = sorted(
        ((start, end, index) for index, (start, end) in enumerate(windows) if start and end and end > start),
        key=lambda row: (row[0], row[2]),
    )
    errors: RowErrors = {}
    latest_end = None
    for start, end, index in usable:
        if latest_end is not None and start < latest_end:
            errors[index] = {"starts_at": [str(WINDOWS_OVERLAP)]}
        latest_end = end if latest_end is None else max(latest_end, end)
    return errors


def category_rates_duplicate(categories: Iterable[str]) -> RowErrors:
    """Every repeat of a category after its first row gets an error on `category` (the table is one rate per
    category; the database refuses a repeat too, with a less helpful message)."""
    seen: set[str] = set()
    errors: RowErrors = {}
    for index, category in enumerate(categories):
        key = (category or "").strip()
        if not key:
            continue
        if key in seen:
            errors[index] = {"category": [str(CATEGORY_TWICE % {"category": key})]}
        seen.add(key)
    return errors
