"""Transactional outbox: effects that must follow a commit are recorded in it and published after the commit.

The broker is a doorbell, not a store: if a publish is lost (broker down, web process killed after commit),
the sweeper finds the row still not done and publishes it again. Consumers are idempotent, so duplicates are
harmless."""

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import OutboxEvent

log = logging.getLogger(__name__)

TOPIC_REDEMPTION_REBATES = "redemption.rebates"
# Not a row's topic: the doorbell of the batch credit, which drains every due redemption event (ref_id unused).
TOPIC_REBATES_BATCH = "rebates.batch"

# Fail fast when the broker is down: the sweeper is the retry, not the web request.
_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


# Which Celery task consumes each topic; every app registers its own topics in its AppConfig.ready(), so the outbox
# publishes for apps above rebates without importing them.
_topic_tasks: dict[str, Any] = {}


def outbox_topic_register(topic: str, task: Any) -> None:
    _topic_tasks[topic] = task


def _task_for(topic: str):
    return _topic_tasks[topic]


def outbox_publish(topic: str, ref_id: int) -> bool:
    try:
        _task_for(topic).apply_async(
            args=[ref_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE, retry=True, retry_policy=_PUBLISH_RETRY
        )
        return True
    except Exception:  # broker unreachable: leave it to the sweeper
        log.warning("outbox publish of %s:%s failed; the sweeper will retry", topic, ref_id, exc_info=True)
        return False


def outbox_publish_on_commit(event: OutboxEvent) -> None:
    topic, ref_id = event.topic, event.ref_id
    if topic == TOPIC_REDEMPTION_REBATES:
        transaction.on_commit(_rebates_doorbell)
    else:
        transaction.on_commit(lambda: outbox_publish(topic, ref_id))


# Coalesced publishing: redemptions do not need a task each; the batch task drains whatever is due. A process rings
# at most once per REBATE_DOORBELL_SECONDS; a commit whose ring was skipped is still picked up, because the task it
# would have woken looks once more that long after it found nothing (`rebates.tasks.credit_rebates_batch`), and the
# sweeper stands behind both.
_last_ring = 0.0


def _rebates_doorbell() -> None:
    global _last_ring
    now = time.monotonic()
    if now - _last_ring < settings.REBATE_DOORBELL_SECONDS:
        return
    _last_ring = now
    outbox_publish(TOPIC_REBATES_BATCH, 0)


# One sweep at a time, across all workers: overlapping sweeps would publish the same backlog again and again.
_SWEEP_LOCK = 0x5EED_0B0C


def outbox_sweep(*, older_than: timedelta | None = None, limit: int = 200) -> int:
    """Re-publish events not done whose last publish is older than the delay, doubling the delay per attempt
    (capped at 32×), at most `limit` per sweep. The rows are claimed in one statement and published after that
    commits, so a slow broker never holds row locks. Returns how many were published."""
    delay = older_than if older_than is not None else timedelta(seconds=settings.OUTBOX_REPUBLISH_AFTER_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SWEEP_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(
            """UPDATE rebates_outboxevent SET published_at = now(), attempts = attempts + 1
               WHERE id IN (
                   SELECT id FROM rebates_outboxevent
                   WHERE done_at IS NULL
                     AND COALESCE(published_at, created_at)
                         < now() - make_interval(secs => %s * power(2, LEAST(attempts, 5)))
                   ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
               RETURNING topic, ref_id""",
            [delay.total_seconds(), limit],
        )
        due = cursor.fetchall()
    return sum(outbox_publish(topic, ref_id) for topic, ref_id in due)


def outbox_mark_done(*, topic: str, ref_id: int) -> None:
    OutboxEvent.objects.filter(topic=topic, ref_id=ref_id, done_at__isnull=True).update(done_at=timezone.now())
