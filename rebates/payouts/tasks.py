"""Celery tasks of payouts: take an id, call one service, safe to run any number of times."""

from celery import shared_task

from . import services as payouts


# Explicit names: the old module path, which beat (CELERY_BEAT_SCHEDULE) and messages already queued refer to.
@shared_task(name="rebates.payout_tasks.payout_send", acks_late=True)
def payout_send(payout_id: int) -> str:
    """One step (query first when needed, then send); schedules the next step itself with exponential back-off."""
    delay = payouts.payout_attempt(payout_id=payout_id)
    if delay is not None:
        payouts.payout_enqueue(payout_id, countdown=delay)
    return "done" if delay is None else f"next step in {delay:.0f}s"


@shared_task(name="rebates.payout_tasks.payouts_sweep")
def payouts_sweep() -> int:
    """Beat: re-publish overdue payout steps (a lost publish, a worker that died mid-step)."""
    return payouts.payouts_sweep()
