"""Celery tasks of webhooks: take an id, call one service, safe to run any number of times."""

from celery import shared_task

from . import services as webhooks


@shared_task(acks_late=True)
def webhook_deliver(delivery_id: int) -> str:
    """One attempt (a no-op unless the delivery is pending and due); schedules a short retry itself, long ones are
    left to the sweep."""
    delay = webhooks.webhook_attempt(delivery_id=delivery_id)
    if delay is not None and delay <= webhooks.COUNTDOWN_MAX_SECONDS:
        webhooks.webhook_publish(delivery_id, countdown=delay)
    return "done" if delay is None else f"next attempt in {delay:.0f}s"


@shared_task
def webhooks_sweep() -> int:
    """Beat: publish pending deliveries that are overdue (lost publish, worker died, long back-off)."""
    return webhooks.webhooks_sweep()
