import time

from celery import shared_task
from django.conf import settings

from . import ledger, outbox
from .payouts.tasks import payout_send, payouts_sweep  # noqa: F401 — registers the payout tasks
from .services import rebates_confirm_due, rebates_credit_batch, rebates_credit_for_redemption
from .webhooks.tasks import webhook_deliver, webhooks_sweep  # noqa: F401 — registers the webhook tasks


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def credit_redemption_rebates(redemption_id: int) -> int:
    """Safe to run any number of times: credits once."""
    return len(rebates_credit_for_redemption(redemption_id=redemption_id))


@shared_task(acks_late=True)
def credit_rebates_batch(_ref_id: int = 0) -> int:
    """Drain every due redemption event, a batch per transaction; when nothing is due, look once more after the
    doorbell's interval (a commit whose ring was coalesced away is picked up then). Safe to run any number of times."""
    total = looked_again = 0
    while True:
        claimed = rebates_credit_batch()
        total += claimed
        if claimed:
            looked_again = 0
            continue
        if looked_again:
            return total
        looked_again = 1
        time.sleep(settings.REBATE_DOORBELL_SECONDS)


@shared_task
def outbox_sweep() -> int:
    return outbox.outbox_sweep()


@shared_task
def confirm_due_rebates() -> int:
    return rebates_confirm_due()


@shared_task
def ledger_rollup() -> int:
    return ledger.ledger_rollup()
