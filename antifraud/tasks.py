"""Detector tasks (antifraud/detectors.py). Each is safe to run twice: findings are upserted by (kind, fingerprint) and
a rebate is held once. Beat runs `detect_all` every ANTIFRAUD_DETECT_SECONDS (config/settings.py)."""

from celery import shared_task
from django.db import connection

from . import detectors

# Two overlapping `detect_all` runs (a slow run, a redelivered task) would only repeat work; the second one skips.
_DETECT_ALL_LOCK = 0x616E_7466_6465_7401  # any fixed bigint unique to this task


@shared_task(acks_late=True)
def detect_collusion(days: int | None = None) -> int:
    return len(detectors.detect_collusion(days=days))


@shared_task(acks_late=True)
def detect_self_referral(days: int | None = None) -> int:
    return len(detectors.detect_self_referral(days=days))


@shared_task(acks_late=True)
def detect_referral_farms(days: int | None = None) -> int:
    return len(detectors.detect_referral_farms(days=days))


@shared_task(acks_late=True)
def detect_circular_flows(days: int | None = None) -> int:
    return len(detectors.detect_circular_flows(days=days))


@shared_task(acks_late=True)
def detect_packet_farms(days: int | None = None) -> int:
    return len(detectors.detect_packet_farms(days=days))


@shared_task(acks_late=True)
def detect_all(days: int | None = None) -> dict[str, int]:
    """Every detector in order. Returns the findings each matched ({} when another run holds the lock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_DETECT_ALL_LOCK])
        if not cursor.fetchone()[0]:
            return {}
    try:
        return detectors.detect_all(days=days)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_DETECT_ALL_LOCK])
