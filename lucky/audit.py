"""The books of lucky money, proved from the ledger's entries (run by `manage.py audit` through lucky_audit)."""

from django.db import connection

from rebates.models import AccountKind

from .ledger import KIND_GRAB, KIND_RETURN, KIND_SEND


def _rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def escrow_matches_shares() -> list[str]:
    """Per packet, on the escrow: in = its total; out by grabs = its grabbed shares; out by the return = its returned
    shares. So no packet ever paid out more, or other, than its shares."""
    rows = _rows(
        """WITH moved AS (
             SELECT substr(t.reference, 14)::bigint AS packet_id,
                    COALESCE(SUM(e.amount) FILTER (WHERE t.kind = %(send)s), 0) AS sent,
                    COALESCE(-SUM(e.amount) FILTER (WHERE t.kind = %(grab)s), 0) AS grabbed,
                    COALESCE(-SUM(e.amount) FILTER (WHERE t.kind = %(ret)s), 0) AS returned
               FROM rebates_entry e
               JOIN rebates_ledgeraccount a ON a.id = e.account_id AND a.kind = %(escrow)s
               JOIN rebates_ledgertransaction t ON t.id = e.transaction_id
              WHERE t.reference LIKE 'lucky_packet:%%'
              GROUP BY 1),
           owed AS (
             SELECT p.id AS packet_id, p.total,
                    COALESCE(SUM(s.amount) FILTER (WHERE s.grabbed_by_id IS NOT NULL), 0) AS grabbed,
                    COALESCE(SUM(s.amount) FILTER (WHERE s.returned_at IS NOT NULL), 0) AS returned
               FROM lucky_luckypacket p LEFT JOIN lucky_luckyshare s ON s.packet_id = p.id
              GROUP BY p.id)
           SELECT COALESCE(o.packet_id, m.packet_id), o.total, m.sent, o.grabbed, m.grabbed, o.returned, m.returned
             FROM owed o FULL JOIN moved m ON m.packet_id = o.packet_id
            WHERE o.total IS DISTINCT FROM m.sent OR o.grabbed IS DISTINCT FROM m.grabbed
               OR o.returned IS DISTINCT FROM m.returned
            ORDER BY 1 LIMIT 100""",
        {"send": KIND_SEND, "grab": KIND_GRAB, "ret": KIND_RETURN, "escrow": AccountKind.LUCKY_ESCROW.value},
    )
    return [
        f"lucky packet {p}: total {total} / escrow in {sent}; grabbed shares {g_rows} / paid {g_moved}; "
        f"returned shares {r_rows} / returned {r_moved}"
        for p, total, sent, g_rows, g_moved, r_rows, r_moved in rows
    ]


def shares_sum_to_total() -> list[str]:
    rows = _rows(
        """SELECT p.id, p.total, p.share_count, COALESCE(SUM(s.amount), 0), COUNT(s.id)
             FROM lucky_luckypacket p LEFT JOIN lucky_luckyshare s ON s.packet_id = p.id
            GROUP BY p.id HAVING p.total <> COALESCE(SUM(s.amount), 0) OR p.share_count <> COUNT(s.id)
            ORDER BY p.id LIMIT 100""",
        [],
    )
    return [
        f"lucky packet {p}: {n} shares of {total}, but {count} rows summing to {s}" for p, total, n, s, count in rows
    ]


def no_grabber_twice() -> list[str]:
    """One share per person and packet, and one grab payment per person and packet."""
    rows = _rows(
        """SELECT packet_id, grabbed_by_id, COUNT(*) FROM lucky_luckyshare WHERE grabbed_by_id IS NOT NULL
            GROUP BY 1, 2 HAVING COUNT(*) > 1
           UNION ALL
           SELECT substr(t.reference, 14)::bigint, e_user.user_id, COUNT(DISTINCT t.id)
             FROM rebates_ledgertransaction t
             JOIN rebates_entry e ON e.transaction_id = t.id AND e.amount > 0
             JOIN rebates_ledgeraccount e_user ON e_user.id = e.account_id
            WHERE t.kind = %s GROUP BY 1, 2 HAVING COUNT(DISTINCT t.id) > 1
            LIMIT 100""",
        [KIND_GRAB],
    )
    return [f"lucky packet {p}: user {u} was paid {n} times" for p, u, n in rows]


def lucky_audit() -> dict[str, list[str]]:
    return {
        "lucky packets: escrow in = shares grabbed + returned": escrow_matches_shares(),
        "lucky packets: shares sum to the total": shares_sum_to_total(),
        "lucky packets: nobody grabs twice": no_grabber_twice(),
    }
