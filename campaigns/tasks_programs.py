"""Celery tasks of the programs (campaigns/programs.py). Each takes ids, calls one service, is safe to run twice.

Registered when `campaigns/tasks.py` imports this module (Celery autodiscovers `tasks` modules only)."""

from celery import shared_task

from . import programs


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def order_program_effects(order_id: int) -> dict:
    """The outbox consumer of topic `order.programs`: referral rebate and trial attribution of one order."""
    return programs.programs_for_order(order_id=order_id)


@shared_task
def confirm_due_referral_rewards() -> int:
    return programs.referral_rewards_confirm_due()


@shared_task
def expire_due_enrolments() -> int:
    return programs.enrolments_expire_due()
