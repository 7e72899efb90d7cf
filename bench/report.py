"""The evaluation report at scale: report_ms for a 90-day range over 1,000,000 stored redemptions, and the rollup
maintenance's CPU per redemption.

    python -m config.runstack test --durable -- python bench/report.py                     # 1,000,000 redemptions
    python -m config.runstack test --durable -- python bench/report.py --redemptions 200000 --json var/report.json

One run: migrate; a funded two-way campaign through the services; COPY-prefill `--redemptions` redemptions over
`--days` days (each: a shopper's order with one fruit or dairy line, its packet, its redemption, its issuer and
holder rebate rows; the rebates name one empty bench ledger transaction — the prefill moves no money, so the
books' audit is not run, only the rollups' audit); `rebuild_rollups` timed; the report of the last 90 days read
from the rollups (`report_ms`, median of `--repeat`) and once from the raw rows (`raw_report_ms`, the baseline of
the same run); then `--incremental` redemptions through the services (packet_grant, order_create, the rebate
worker's service) and one applier pass (reports.services.rollups_apply) timed: `rollup_cpu_ms` is this process's
CPU plus the PostgreSQL backend's CPU of that pass, per new redemption. Targets (issue 15): report_ms < 500,
rollup_cpu_ms < 2.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # see bench/redemption.py
sys.path.insert(0, str(ROOT))

from bench import common as bc  # noqa: E402

PROVINCES = ("广东", "浙江", "江苏", "北京", "上海", "四川")


def backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _next_id(cursor, table: str) -> int:
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
    return cursor.fetchone()[0]


def _copy(cursor, table: str, columns: tuple[str, ...], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def prefill(*, campaign, redemptions: int, shoppers: int, days: int, seed: int) -> None:
    """COPY the raw rows of `redemptions` redemptions spread evenly over the last `days` days."""
    from django.db import connection
    from django.utils import timezone

    rng = random.Random(seed)
    now = timezone.now()
    rule = campaign.earn_rules.get()
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own, for COPY
        cursor.execute("SET LOCAL session_replication_role = replica")  # no per-row FK trigger: ids are made here
        user0, order0, packet0 = (_next_id(cursor, t) for t in ("accounts_user", "packets_order", "packets_packet"))
        red0, line0, rebate0 = (
            _next_id(cursor, t) for t in ("packets_redemption", "packets_orderline", "rebates_rebate")
        )
        cursor.execute(
            "INSERT INTO rebates_ledgertransaction (kind, idempotency_key, reference, memo, created_at) "
            "VALUES ('bench_prefill', %s, 'bench', 'rows the report bench COPYed', now()) RETURNING id",
            [f"bench-prefill:{campaign.pk}:{red0}"],
        )
        ledger_tx = cursor.fetchone()[0]
        bc.say(f"COPY {shoppers:,} shoppers ...")
        _copy(
            cursor,
            "accounts_user",
            (
                "id",
                "password",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
                "phone",
                "province",
                "city",
                "invite_code",
                "is_banned",
                "segments",
            ),
            (
                (
                    user0 + i,
                    "!",
                    False,
                    f"bench{user0 + i}",
                    "",
                    "",
                    "",
                    False,
                    True,
                    now - timedelta(days=days + 30),
                    None,
                    PROVINCES[i % len(PROVINCES)],
                    "",
                    f"b{user0 + i}",
                    False,
                    "{}",
                )
                for i in range(shoppers)
            ),
        )
        when = [now - timedelta(seconds=days * 86400 * (1 - i / redemptions)) for i in range(redemptions)]
        shopper_of = [user0 + rng.randrange(shoppers) for _ in range(redemptions)]
        gross = [Decimal(50 + rng.randrange(200)) for _ in range(redemptions)]
        bc.say(f"COPY {redemptions:,} packets ...")
        _copy(
            cursor,
            "packets_packet",
            (
                "id",
                "code",
                "campaign_id",
                "earn_rule_id",
                "issuer_merchant_id",
                "holder_id",
                "channel",
                "amount",
                "min_spend",
                "categories",
                "denied_categories",
                "status",
                "issued_at",
                "expires_at",
                "used_at",
            ),
            (
                (
                    packet0 + i,
                    f"BENCH{packet0 + i}",
                    campaign.pk,
                    rule.pk,
                    campaign.merchant_id,
                    shopper_of[i],
                    "order",
                    "10.00",
                    "50.00",
                    "{}",
                    "{}",
                    "used",
                    when[i] - timedelta(days=1),
                    when[i] + timedelta(days=29),
                    when[i],
                )
                for i in range(redemptions)
            ),
        )
        bc.say(f"COPY {redemptions:,} orders and their lines ...")
        _copy(
            cursor,
            "packets_order",
            (
                "id",
                "merchant_id",
                "shopper_id",
                "order_no",
                "gross_amount",
                "packet_id",
                "discount",
                "points_used",
                "points_discount",
                "amount_paid",
                "channel",
                "province",
                "city",
                "created_at",
            ),
            (
                (
                    order0 + i,
                    campaign.merchant_id,
                    shopper_of[i],
                    f"BENCH-{order0 + i}",
                    gross[i],
                    packet0 + i,
                    "10.00",
                    0,
                    "0.00",
                    gross[i] - 10,
                    "api",
                    PROVINCES[i % len(PROVINCES)],
                    "",
                    when[i],
                )
                for i in range(redemptions)
            ),
        )
        _copy(
            cursor,
            "packets_orderline",
            ("id", "order_id", "sku", "name", "category", "quantity", "unit_price"),
            (
                (line0 + i, order0 + i, "SKU", "item", ("fruit", "dairy")[i % 2], 1, gross[i])
                for i in range(redemptions)
            ),
        )
        bc.say(f"COPY {redemptions:,} redemptions and {2 * redemptions:,} rebates ...")
        _copy(
            cursor,
            "packets_redemption",
            ("id", "packet_id", "order_id", "order_no", "order_amount", "items", "used_at", "rule_snapshot"),
            (
                (red0 + i, packet0 + i, order0 + i, f"BENCH-{order0 + i}", gross[i], "[]", when[i], "{}")
                for i in range(redemptions)
            ),
        )

        def rebates():
            for i in range(redemptions):
                issuer, holder = (gross[i] / 10).quantize(Decimal("0.01")), (gross[i] / 20).quantize(Decimal("0.01"))
                yield (
                    rebate0 + 2 * i,
                    red0 + i,
                    "issuer",
                    None,
                    campaign.merchant_id,
                    issuer,
                    "CNY",
                    issuer,
                    "campaign_budget",
                    "marketing_credit",
                    "credited",
                    False,
                    "0.00",
                    ledger_tx,
                    when[i],
                )
                yield (
                    rebate0 + 2 * i + 1,
                    red0 + i,
                    "holder",
                    shopper_of[i],
                    None,
                    holder,
                    "CNY",
                    holder,
                    "campaign_budget",
                    "cash",
                    "credited",
                    False,
                    "0.00",
                    ledger_tx,
                    when[i],
                )

        _copy(
            cursor,
            "rebates_rebate",
            (
                "id",
                "redemption_id",
                "role",
                "beneficiary_user_id",
                "beneficiary_merchant_id",
                "amount",
                "currency",
                "cost",
                "funding",
                "form",
                "status",
                "held_for_review",
                "reversed_amount",
                "ledger_transaction_id",
                "created_at",
            ),
            rebates(),
        )
        for table in (
            "accounts_user",
            "packets_order",
            "packets_packet",
            "packets_redemption",
            "packets_orderline",
            "rebates_rebate",
        ):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        cursor.execute("ANALYZE")


def incremental(*, campaign, count: int) -> int:
    """`count` redemptions through the services, as the shop and the worker make them."""
    from packets.services import LineInput, order_create, packet_grant
    from rebates.services import rebates_credit_for_redemption
    from tests.factories.accounts import UserFactory

    rule = campaign.earn_rules.get()
    for n in range(count):
        shopper = UserFactory()
        packet = packet_grant(rule=rule, holder=shopper)
        order = order_create(
            merchant=campaign.merchant,
            shopper=shopper,
            order_no=f"BENCH-INC-{n}-{packet.pk}",
            lines=[LineInput("SKU", "item", "fruit", 1, Decimal("80.00"))],
            gross_amount=Decimal("80.00"),
            packet_code=packet.code,
            province="广东",
        )
        rebates_credit_for_redemption(redemption_id=order.redemption.pk)
    return count


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--redemptions", type=int, default=1_000_000, help="redemptions to COPY (default 1,000,000)")
    p.add_argument("--shoppers", type=int, default=100_000, help="shoppers they are spread over (default 100,000)")
    p.add_argument("--days", type=int, default=180, help="days they are spread over, up to today (default 180)")
    p.add_argument("--range-days", type=int, default=90, help="the report's range, up to today (default 90)")
    p.add_argument("--repeat", type=int, default=5, help="report reads timed (default 5, the median is reported)")
    p.add_argument("--incremental", type=int, default=300, help="redemptions through the services (default 300)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = p.parse_args(argv)
    bc.require_database_url()
    bc.django_setup()
    load_before = os.getloadavg()
    bc.migrate()
    from django.db import connection, transaction
    from django.utils import timezone

    from reports.selectors import Period, campaign_report
    from reports.services import rollups_apply, rollups_audit, rollups_rebuild
    from tests.factories.campaigns import two_way_campaign

    campaign = two_way_campaign(budget=str(Decimal(args.incremental) * 30 + 1000))
    t0 = time.monotonic()
    with transaction.atomic():
        prefill(campaign=campaign, redemptions=args.redemptions, shoppers=args.shoppers, days=args.days, seed=args.seed)
    prefill_s = time.monotonic() - t0
    bc.say(f"prefilled in {prefill_s:.0f} s; rebuilding the rollups ...")
    t0 = time.monotonic()
    rollups_rebuild()
    rebuild_s = time.monotonic() - t0
    with connection.cursor() as cursor:  # as autovacuum would after a rebuild: visibility map for index-only scans
        cursor.execute(
            "VACUUM (ANALYZE) reports_campaign_day, reports_campaign_shopper_day, reports_merchant_day, "
            "reports_merchant_shopper_day, reports_campaign_shopper_span, reports_merchant_shopper_span"
        )

    today = timezone.localdate()
    period = Period(today - timedelta(days=args.range_days - 1), today)
    timings = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        report = campaign_report(campaign=campaign, period=period)
        timings.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    raw = campaign_report(campaign=campaign, period=period, from_raw=True)
    raw_ms = (time.perf_counter() - t0) * 1000
    bc.say(f"report {statistics.median(timings):.0f} ms (raw {raw_ms:.0f} ms); {args.incremental} redemptions ...")

    made = incremental(campaign=campaign, count=args.incremental)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu0, db0, t0 = time.process_time(), backend_cpu_seconds(backend), time.monotonic()
    rollups_apply()
    worker_cpu = time.process_time() - cpu0
    db_cpu = backend_cpu_seconds(backend) - db0
    apply_wall = time.monotonic() - t0
    findings = [f for found in rollups_audit().values() for f in found]
    after = campaign_report(campaign=campaign, period=period)

    results = {
        "redemptions": args.redemptions,
        "shoppers": args.shoppers,
        "days": args.days,
        "range_days": args.range_days,
        "report_ms": round(statistics.median(timings), 1),
        "report_ms_all": [round(t, 1) for t in timings],
        "raw_report_ms": round(raw_ms, 1),
        "raw_over_rollups": round(raw_ms / statistics.median(timings), 1),
        "report_equals_raw": report == raw,
        "used_in_range": report["packets"]["used"]["count"],
        "incremental_redemptions": made,
        "used_in_range_after": after["packets"]["used"]["count"],
        "rollup_cpu_ms": round((worker_cpu + db_cpu) * 1000 / made, 3),
        "rollup_worker_cpu_ms": round(worker_cpu * 1000 / made, 3),
        "rollup_db_cpu_ms": round(db_cpu * 1000 / made, 3),
        "rollup_apply_wall_ms": round(apply_wall * 1000, 1),
        "prefill_s": round(prefill_s, 1),
        "rebuild_s": round(rebuild_s, 1),
        "rollups_audit_findings": len(findings),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": bc.machine_summary(),
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    ok = (
        report == raw
        and not findings
        and after["packets"]["used"]["count"] == report["packets"]["used"]["count"] + made
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
