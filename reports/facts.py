"""The facts every report figure is a sum of, read from the raw rows with SQL (docs/REPORTS.md defines each).

A source is one kind of event with its own id sequence: packets issued, claims, redemptions, rebate legs,
reversals, expiries, referral rewards, orders. Each yields fact rows keyed by the event (`<prefix>:<id>`), so the
same SQL serves three readers: the raw report (all facts of a campaign and range), the incremental applier (the
facts of events with ids in a window, added to the rollups once per key) and the audit (all applied facts,
recomputed and compared with the rollups).

Days are calendar days in settings.TIME_ZONE (Asia/Shanghai); SQL placeholders: %(tz)s, and %(lo)s / %(hi)s for an
id window (lo < id ≤ hi)."""

import re
from dataclasses import dataclass


def _day(column: str) -> str:
    return f"(({column}) AT TIME ZONE %(tz)s)::date"


@dataclass(frozen=True)
class Source:
    name: str  # the watermark's name; the key prefix is in the SQL
    table: str  # whose id the window runs over
    sql: str  # with {window}: a condition on that id, or TRUE


# --- campaign facts: key, campaign_id, day, tier, trig, channel, province, metric, amount --------------------------
# tier / trig / channel / province are the breakdowns' values; NULL means "not in this breakdown" (program rewards
# belong to no packet). An earn trigger is the packet's rule's; a coupon rebate or a refund's reissue has its channel.

_PACKET_DIMS = (
    "p.campaign_id, {day} AS day, p.amount::text AS tier, COALESCE(er.trigger, p.channel) AS trig, "
    "p.channel AS channel, {province} AS province"
)

_FUNDER_CREDIT = (
    "(SELECT COALESCE(SUM(e.amount), 0) FROM rebates_entry e JOIN rebates_ledgeraccount a ON a.id = e.account_id "
    "WHERE e.transaction_id = t.id AND e.amount > 0 AND a.kind IN ('campaign_budget', 'platform_marketing_pool'))"
)

CAMPAIGN_SOURCES = (
    Source(
        "issue",
        "packets_packet",
        "SELECT 'i:' || p.id AS key, "
        + _PACKET_DIMS.format(day=_day("p.issued_at"), province="COALESCE(so.province, '')")
        + """, m.metric, m.amount
        FROM packets_packet p
        LEFT JOIN campaigns_earnrule er ON er.id = p.earn_rule_id
        LEFT JOIN packets_order so ON so.id = p.source_order_id
        CROSS JOIN LATERAL (VALUES ('issued_count', 1::numeric), ('issued_value', p.amount),
            ('claimed_count', CASE WHEN p.batch_id IS NULL THEN 1 ELSE 0 END),
            ('claimed_value', CASE WHEN p.batch_id IS NULL THEN p.amount ELSE 0 END)) m(metric, amount)
        WHERE ({window}) AND m.amount <> 0""",
    ),
    Source(
        "claim",
        "antifraud_earningevent",
        "SELECT 'c:' || ev.id AS key, "
        + _PACKET_DIMS.format(day=_day("ev.at"), province="''")
        + """, m.metric, m.amount
        FROM antifraud_earningevent ev
        JOIN packets_packet p ON p.id = ev.packet_id AND p.batch_id IS NOT NULL
        LEFT JOIN campaigns_earnrule er ON er.id = p.earn_rule_id
        CROSS JOIN LATERAL (VALUES ('claimed_count', 1::numeric), ('claimed_value', p.amount)) m(metric, amount)
        WHERE ev.kind = 'claim' AND ({window})""",
    ),
    Source(
        "use",
        "packets_redemption",
        "SELECT 'u:' || r.id AS key, "
        + _PACKET_DIMS.format(day=_day("r.used_at"), province="o.province")
        + """, m.metric, m.amount
        FROM packets_redemption r
        JOIN packets_packet p ON p.id = r.packet_id
        JOIN packets_order o ON o.id = r.order_id
        LEFT JOIN campaigns_earnrule er ON er.id = p.earn_rule_id
        CROSS JOIN LATERAL (VALUES ('used_count', 1::numeric), ('used_value', p.amount), ('discount', o.discount),
            ('sales_driven', o.gross_amount)) m(metric, amount)
        WHERE ({window}) AND m.amount <> 0""",
    ),
    Source(
        "rebate",
        "rebates_rebate",
        "SELECT 'b:' || rb.id AS key, "
        + _PACKET_DIMS.format(day=_day("r.used_at"), province="o.province")
        + """, m.metric, m.amount
        FROM rebates_rebate rb
        JOIN packets_redemption r ON r.id = rb.redemption_id
        JOIN packets_packet p ON p.id = r.packet_id
        JOIN packets_order o ON o.id = r.order_id
        LEFT JOIN campaigns_earnrule er ON er.id = p.earn_rule_id
        CROSS JOIN LATERAL (VALUES (rb.role, rb.cost), ('form_' || rb.form, rb.cost)) m(metric, amount)
        WHERE ({window}) AND m.amount <> 0""",
    ),
    Source(
        "reverse",
        "rebates_ledgertransaction",
        "SELECT 'r:' || t.id AS key, "
        + _PACKET_DIMS.format(day=_day("r.used_at"), province="o.province")
        + f""", 'reversed' AS metric, {_FUNDER_CREDIT} AS amount
        FROM rebates_ledgertransaction t
        JOIN rebates_rebate rb ON rb.id = substr(t.reference, 8)::bigint
        JOIN packets_redemption r ON r.id = rb.redemption_id
        JOIN packets_packet p ON p.id = r.packet_id
        JOIN packets_order o ON o.id = r.order_id
        LEFT JOIN campaigns_earnrule er ON er.id = p.earn_rule_id
        WHERE t.kind = 'rebate_reverse' AND ({{window}})""",
    ),
    Source(
        "expire",
        "rebates_ledgertransaction",
        # An expiry is one ledger transaction per chunk of packets, referenced "packets:<first id>-<last id>": its
        # packets are those of the range that are expired now (the key is the packet, so ranges may overlap).
        "SELECT 'x:' || p.id AS key, "
        + _PACKET_DIMS.format(day=_day("p.expires_at"), province="COALESCE(so.province, '')")
        + """, m.metric, m.amount
        FROM packets_packet p
        LEFT JOIN campaigns_earnrule er ON er.id = p.earn_rule_id
        LEFT JOIN packets_order so ON so.id = p.source_order_id
        CROSS JOIN LATERAL (VALUES ('expired_count', 1::numeric), ('expired_value', p.amount)) m(metric, amount)
        WHERE p.status = 'expired' AND EXISTS (
            SELECT 1 FROM rebates_ledgertransaction t
            WHERE t.kind = 'packet_expire' AND ({window})
              AND p.id BETWEEN split_part(substr(t.reference, 9), '-', 1)::bigint
                           AND split_part(substr(t.reference, 9), '-', 2)::bigint)""",
    ),
    Source(
        "referral",
        "campaigns_referralreward",
        f"""SELECT 'f:' || rr.id AS key, rp.campaign_id, {_day("o.created_at")} AS day, NULL AS tier, NULL AS trig,
            NULL AS channel, NULL AS province, 'program_rewards' AS metric, rr.amount
        FROM campaigns_referralreward rr
        JOIN campaigns_referralprogram rp ON rp.id = rr.program_id
        JOIN packets_order o ON o.id = rr.order_id
        WHERE rr.status <> 'unfunded' AND ({{window}})""",
    ),
    Source(
        "referral_reverse",
        "rebates_ledgertransaction",
        f"""SELECT 'g:' || t.id AS key, rp.campaign_id, {_day("o.created_at")} AS day, NULL AS tier, NULL AS trig,
            NULL AS channel, NULL AS province, 'reversed' AS metric, {_FUNDER_CREDIT} AS amount
        FROM rebates_ledgertransaction t
        JOIN campaigns_referralreward rr ON rr.order_id = substr(t.reference, 7)::bigint
        JOIN campaigns_referralprogram rp ON rp.id = rr.program_id
        JOIN packets_order o ON o.id = rr.order_id
        WHERE t.kind = 'referral_reverse' AND ({{window}})""",
    ),
)

# --- participants: key, campaign_id, day, user_id, signed_up ---------------------------------------------------------
# Earned (a packet issued to them, batch packets excepted: those are earned when claimed), claimed, spent. A sign-up
# the campaign brought: its registration or referral packet, or a claim on the day the account was created.
PARTICIPANT_SOURCES = (
    Source(
        "p_issue",
        "packets_packet",
        f"""SELECT 'pi:' || p.id AS key, p.campaign_id, {_day("p.issued_at")} AS day, p.holder_id AS user_id,
            p.channel IN ('registration', 'referral') AS signed_up
        FROM packets_packet p WHERE p.batch_id IS NULL AND p.holder_id IS NOT NULL AND ({{window}})""",
    ),
    Source(
        "p_claim",
        "antifraud_earningevent",
        f"""SELECT 'pc:' || ev.id AS key, ev.campaign_id, {_day("ev.at")} AS day, ev.user_id,
            {_day("u.date_joined")} = {_day("ev.at")} AS signed_up
        FROM antifraud_earningevent ev JOIN accounts_user u ON u.id = ev.user_id
        WHERE ev.kind = 'claim' AND ({{window}})""",
    ),
    Source(
        "p_use",
        "packets_redemption",
        f"""SELECT 'pu:' || r.id AS key, p.campaign_id, {_day("r.used_at")} AS day, o.shopper_id AS user_id,
            false AS signed_up
        FROM packets_redemption r JOIN packets_packet p ON p.id = r.packet_id JOIN packets_order o ON o.id = r.order_id
        WHERE ({{window}})""",
    ),
)

# --- merchant facts: key, merchant_id, day, dimension, value, metric, amount ---------------------------------------
MERCHANT_SOURCES = (
    Source(
        "order",
        "packets_order",
        f"""SELECT 'o:' || o.id AS key, o.merchant_id, {_day("o.created_at")} AS day, m.dimension, m.value, m.metric,
            m.amount
        FROM packets_order o
        CROSS JOIN LATERAL (
            VALUES ('total', '', 'orders', 1::numeric), ('total', '', 'gross', o.gross_amount)
            UNION ALL
            SELECT 'category', ol.category, 'gross', SUM(ol.unit_price * ol.quantity)
            FROM packets_orderline ol WHERE ol.order_id = o.id GROUP BY ol.category
        ) m(dimension, value, metric, amount)
        WHERE ({{window}})""",
    ),
)

# --- merchant shoppers: key, merchant_id, day, user_id, orders, gross ----------------------------------------------
MERCHANT_SHOPPER_SOURCES = (
    Source(
        "order_shopper",
        "packets_order",
        f"""SELECT 'os:' || o.id AS key, o.merchant_id, {_day("o.created_at")} AS day, o.shopper_id AS user_id,
            1 AS orders, o.gross_amount AS gross
        FROM packets_order o WHERE ({{window}})""",
    ),
)

# The id column of each source's window, by its table's alias in the SQL above.
WINDOW_COLUMN = {
    "packets_packet": "p.id",
    "antifraud_earningevent": "ev.id",
    "packets_redemption": "r.id",
    "rebates_rebate": "rb.id",
    "rebates_ledgertransaction": "t.id",
    "campaigns_referralreward": "rr.id",
    "packets_order": "o.id",
}


def source_sql(source: Source, *, windowed: bool) -> str:
    """The source's fact query: over an id window (lo < id ≤ hi), or over every row."""
    column = WINDOW_COLUMN[source.table]
    return source.sql.format(window=f"{column} > %(lo)s AND {column} <= %(hi)s" if windowed else "TRUE")


def union_sql(sources: tuple[Source, ...]) -> str:
    return "\nUNION ALL\n".join(f"({source_sql(s, windowed=False)})" for s in sources)


def _tables_read() -> tuple[str, ...]:
    sources = (*CAMPAIGN_SOURCES, *PARTICIPANT_SOURCES, *MERCHANT_SOURCES, *MERCHANT_SHOPPER_SOURCES)
    every_sql = " ".join(source.sql for source in sources)
    return tuple(sorted(set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z]+_[a-z_]+)\b", every_sql))))


# Every table the facts read (for an ANALYZE after a bulk load).
TABLES_READ = _tables_read()
