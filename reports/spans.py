"""The shopper spans: per campaign × shopper (reports_campaign_shopper_span) and per merchant × shopper
(reports_merchant_shopper_span), the days the shopper appears in the shopper-day rollups as one datemultirange
(`days`; for a campaign also `signup_days`, the days the row says it was their sign-up). Statement-level triggers on
the shopper-day tables keep them in step in the same transaction (reports/migrations/0008_shopper_spans.py), so the
applier and the rebuild need not know about them. A distinct count over a range reads one row per shopper (the spans
that overlap it) instead of one per shopper-day, and is exact: a shopper took part in the range if and only if one of
their shopper-days falls in it, i.e. their span overlaps it."""

from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True)
class Span:
    table: str
    days_table: str  # the shopper-day rollup it is derived from
    key: str
    columns: tuple[str, ...]  # the multiranges, each with its aggregate over the shopper-days


_DAYS = "range_agg(daterange(day, day, '[]'))"

SPANS = (
    Span(
        "reports_campaign_shopper_span",
        "reports_campaign_shopper_day",
        "campaign_id",
        (f"{_DAYS} AS days", f"COALESCE({_DAYS} FILTER (WHERE signed_up), '{{}}') AS signup_days"),
    ),
    Span("reports_merchant_shopper_span", "reports_merchant_shopper_day", "merchant_id", (f"{_DAYS} AS days",)),
)


def span_mismatches(span: Span, *, limit: int = 50) -> list[str]:
    """Span rows that differ from their shopper-day rows (a full outer join: a row missing on either side too)."""
    names = [c.rsplit(" AS ", 1)[1] for c in span.columns]
    differs = " OR ".join(f"e.{n} IS DISTINCT FROM a.{n}" for n in names)
    sql = (
        f"WITH e AS (SELECT {span.key}, user_id, {', '.join(span.columns)} FROM {span.days_table} GROUP BY 1, 2), "
        f"a AS (SELECT {span.key}, user_id, {', '.join(names)} FROM {span.table}) "
        f"SELECT {span.key}, user_id, {', '.join(f'e.{n}::text' for n in names)}, "
        f"{', '.join(f'a.{n}::text' for n in names)} "
        f"FROM e FULL JOIN a USING ({span.key}, user_id) WHERE {differs} LIMIT {int(limit)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    n = len(names)
    return [
        f"{span.table} {span.key}={row[0]} user_id={row[1]}: from the shopper-days {row[2 : 2 + n]}, "
        f"span {row[2 + n :]}"
        for row in rows
    ]
