from celery import shared_task

from . import outbox
from .payout_tasks import payout_send, payouts_sweep  # noqa: F401 — registers the payout tasks
from .services import rebates_confirm_due, rebates_credit_for_redemption
from .webhook_tasks import webhook_deliver, webhooks_sweep  # noqa: F401 — registers the webhook tasks


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def credit_redemption_rebates(redemption_id: int) -> int:
    """Safe to run any number of times: credits once."""
    return len(rebates_credit_for_redemption(redemption_id=redemption_id))


@shared_task
def outbox_sweep() -> int:
    return outbox.outbox_sweep()


@shared_task
def confirm_due_rebates() -> int:
    return rebates_confirm_due()
