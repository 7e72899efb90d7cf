"""Rollup maintenance: apply new source events to the rollups (the workers, every ROLLUP_APPLY_SECONDS), rebuild them
from scratch, and prove them against a recomputation from the raw rows (`audit`)."""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from .facts import (
    CAMPAIGN_SOURCES,
    MERCHANT_SHOPPER_SOURCES,
    MERCHANT_SOURCES,
    PARTICIPANT_SOURCES,
    Source,
    source_sql,
    union_sql,
)
from .spans import SPANS, span_mismatches

# Ids re-read below a source's watermark on every pass that finds new ids: a row whose transaction committed after
# rows with higher ids (ids are taken at INSERT, rows become visible at COMMIT) is still found; its key makes the
# re-read add nothing twice. A source with no new ids is skipped (its late row waits for the next new one).
LOOKBACK_IDS = 2000
CHUNK_IDS = 20000
# One applier at a time (a second one would wait, then find every key applied).
APPLY_LOCK = 0x7265706F7274  # "report"

_CAMPAIGN_DIMENSIONS = (
    "CROSS JOIN LATERAL (VALUES ('total', ''), ('tier', f.tier), ('trigger', f.trig), ('channel', f.channel), "
    "('province', f.province)) d(dimension, value)"
)


@dataclass(frozen=True)
class Target:
    """Where one family of facts is summed: the INSERT … SELECT that adds fresh facts, and the audit's comparison."""

    name: str
    sources: tuple[Source, ...]
    table: str
    keys: tuple[str, ...]  # the table's unique key, in the select's order
    select: str  # from `facts f` (fresh facts only when applying): the keys, then the summed columns
    upsert: str  # ON CONFLICT … DO UPDATE SET …
    compare: tuple[str, ...]  # the summed columns


TARGETS = (
    Target(
        "campaign",
        CAMPAIGN_SOURCES,
        "reports_campaign_day",
        ("campaign_id", "day", "dimension", "value", "metric"),
        f"SELECT f.campaign_id, f.day, d.dimension, d.value, f.metric, SUM(f.amount) AS amount "
        f"FROM {{facts}} f {_CAMPAIGN_DIMENSIONS} WHERE d.value IS NOT NULL GROUP BY 1, 2, 3, 4, 5",
        "DO UPDATE SET amount = reports_campaign_day.amount + EXCLUDED.amount",
        ("amount",),
    ),
    Target(
        "participants",
        PARTICIPANT_SOURCES,
        "reports_campaign_shopper_day",
        ("campaign_id", "day", "user_id"),
        "SELECT f.campaign_id, f.day, f.user_id, BOOL_OR(f.signed_up) AS signed_up FROM {facts} f GROUP BY 1, 2, 3",
        "DO UPDATE SET signed_up = reports_campaign_shopper_day.signed_up OR EXCLUDED.signed_up",
        ("signed_up",),
    ),
    Target(
        "merchant",
        MERCHANT_SOURCES,
        "reports_merchant_day",
        ("merchant_id", "day", "dimension", "value", "metric"),
        "SELECT f.merchant_id, f.day, f.dimension, f.value, f.metric, SUM(f.amount) AS amount FROM {facts} f "
        "GROUP BY 1, 2, 3, 4, 5",
        "DO UPDATE SET amount = reports_merchant_day.amount + EXCLUDED.amount",
        ("amount",),
    ),
    Target(
        "merchant_shoppers",
        MERCHANT_SHOPPER_SOURCES,
        "reports_merchant_shopper_day",
        ("merchant_id", "day", "user_id"),
        "SELECT f.merchant_id, f.day, f.user_id, SUM(f.orders) AS orders, SUM(f.gross) AS gross FROM {facts} f "
        "GROUP BY 1, 2, 3",
        "DO UPDATE SET orders = reports_merchant_shopper_day.orders + EXCLUDED.orders, "
        "gross = reports_merchant_shopper_day.gross + EXCLUDED.gross",
        ("orders", "gross"),
    ),
)


def _columns(target: Target) -> str:
    return ", ".join((*target.keys, *target.compare))


def _apply_statement(target: Target, source: Source) -> str:
    # `fresh` records the keys not applied yet, in the same statement that adds their facts: a key already there
    # (applied before, or by a concurrent applier that committed first) contributes nothing.
    return (
        f"WITH facts AS MATERIALIZED ({source_sql(source, windowed=True)}), "
        "fresh AS (INSERT INTO reports_rollup_source (key) SELECT DISTINCT key FROM facts "
        "ON CONFLICT DO NOTHING RETURNING key), "
        "fresh_facts AS (SELECT facts.* FROM facts JOIN fresh USING (key)) "
        f"INSERT INTO {target.table} ({_columns(target)}) "
        + target.select.format(facts="fresh_facts")
        + f" ON CONFLICT ({', '.join(target.keys)}) {target.upsert}"
    )


def _max_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        return cursor.fetchone()[0]


def _watermark(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_id FROM reports_rollup_watermark WHERE source = %s", [name])
        row = cursor.fetchone()
        return row[0] if row else 0


Progress = Callable[[str, int, int], None]  # (source, ids done, ids in all)


def rollups_apply(*, chunk: int = CHUNK_IDS, lookback: int = LOOKBACK_IDS, progress: Progress | None = None) -> int:
    """Add every source event not applied yet to the rollups, source by source, one transaction per id window.
    Safe to run twice or concurrently (each event's key is applied once). Returns the ids read."""
    read = 0
    params_tz = settings.TIME_ZONE
    for target in TARGETS:
        for source in target.sources:
            name = f"{target.name}:{source.name}"
            top, last = _max_id(source.table), _watermark(name)
            if top <= last and lookback < top:
                continue
            start = max(0, last - lookback)
            while start < top:
                end = min(top, start + chunk)
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPLY_LOCK])
                    cursor.execute(_apply_statement(target, source), {"tz": params_tz, "lo": start, "hi": end})
                    cursor.execute(
                        "INSERT INTO reports_rollup_watermark (source, last_id) VALUES (%s, %s) "
                        "ON CONFLICT (source) DO UPDATE SET last_id = GREATEST(reports_rollup_watermark.last_id, "
                        "EXCLUDED.last_id)",
                        [name, end],
                    )
                read += end - start
                start = end
                if progress:
                    progress(name, end, top)
    return read


def rollups_rebuild(*, chunk: int = CHUNK_IDS, progress: Progress | None = None) -> int:
    """Empty the rollups and apply every event again from the raw rows (after a change of a fact's definition, or to
    repair what the audit found)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPLY_LOCK])
        tables = [t.table for t in TARGETS] + ["reports_rollup_source", "reports_rollup_watermark"]
        for table in tables:  # DELETE, not TRUNCATE: readers keep the old rollups until this commits
            cursor.execute(f"DELETE FROM {table}")
    return rollups_apply(chunk=chunk, lookback=0, progress=progress)


def _mismatches(target: Target, *, limit: int = 50) -> list[str]:
    """Rollup rows that differ from the sum of the applied events' facts recomputed from the raw rows now."""
    keys = ", ".join(target.keys)
    expected = target.select.format(
        facts=f"(SELECT u.* FROM ({union_sql(target.sources)}) u JOIN reports_rollup_source s USING (key))"
    )
    differs = " OR ".join(f"e.{c} IS DISTINCT FROM a.{c}" for c in target.compare)
    # FULL JOIN … USING merges the key columns, so they are named unqualified.
    sql = (
        f"WITH e AS ({expected}), a AS (SELECT {_columns(target)} FROM {target.table}) "
        f"SELECT {keys}, {', '.join(f'e.{c}' for c in target.compare)}, {', '.join(f'a.{c}' for c in target.compare)} "
        f"FROM e FULL JOIN a USING ({keys}) WHERE {differs} LIMIT {int(limit)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tz": settings.TIME_ZONE})
        rows = cursor.fetchall()
    n = len(target.keys)
    return [
        f"{target.table} {dict(zip(target.keys, row[:n], strict=True))}: "
        f"recomputed {row[n : n + len(target.compare)]}, rollup {row[n + len(target.compare) :]}"
        for row in rows
    ]


def rollups_audit() -> dict[str, list[str]]:
    """For `manage.py audit`: every rollup equals the sum of its applied events recomputed from the raw rows, and
    every shopper span its shopper-days (reports/spans.py)."""
    return {
        f"report rollups ({target.name}) equal a recomputation from the raw rows": _mismatches(target)
        for target in TARGETS
    } | {f"report rollups ({span.table}) equal their shopper-days": span_mismatches(span) for span in SPANS}
