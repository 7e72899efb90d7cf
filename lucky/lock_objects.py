"""Row locks of lucky money. Lock order: packet row, then its share rows, then (inside ledger_post) wallets."""

from django.db import connection

from .models import LuckyPacket, LuckyShare

# A per-sender advisory lock: two sends of one person take turns, so the daily total is checked exactly.
_SENDER_LOCK_SPACE = 0x1C_4B
# A per-grabber one: one person's grabs (of different packets) take turns, so their daily received total is exact.
# Different grabbers never wait for each other on it.
_GRABBER_LOCK_SPACE = 0x1C_4C


def sender_lock(user_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_SENDER_LOCK_SPACE, user_id])


def grabber_lock(user_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_GRABBER_LOCK_SPACE, user_id])


def packet_lock(packet_id: int) -> LuckyPacket | None:
    return LuckyPacket.objects.select_for_update().filter(pk=packet_id).first()


def free_shares_lock(packet_id: int) -> list[LuckyShare]:
    """Every share still free, waiting for grabbers that hold one (after they commit, a grabbed row no longer
    matches and is left out)."""
    return list(
        LuckyShare.objects.filter(packet_id=packet_id, grabbed_by__isnull=True, returned_at__isnull=True)
        .order_by("pk")
        .select_for_update()
    )


def free_share_claim(*, packet_id: int, grabber_id: int) -> tuple[int, object] | None:
    """Take one free share for `grabber_id` without waiting: a share another grabber holds is skipped (SKIP LOCKED).
    Returns (share id, amount) or None when no free share is left for this transaction to take."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE lucky_luckyshare SET grabbed_by_id = %(grabber)s, grabbed_at = now()
                WHERE id = (SELECT id FROM lucky_luckyshare
                             WHERE packet_id = %(packet)s AND grabbed_by_id IS NULL AND returned_at IS NULL
                             ORDER BY position LIMIT 1 FOR UPDATE SKIP LOCKED)
               RETURNING id, amount""",
            {"packet": packet_id, "grabber": grabber_id},
        )
        return cursor.fetchone()
