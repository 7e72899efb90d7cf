"""Celery tasks of the programs (campaigns/programs/). Each takes ids, calls one service, is safe to run twice.

Registered when `campaigns/tasks.py` imports this module (Celery autodiscovers `tasks` modules only); the tasks
keep their old names (`campaigns.tasks_programs.*`), which beat and messages already queued refer to."""

from celery import shared_task

from . import milestone, orders, referral


@shared_task(
    name="campaigns.tasks_programs.order_program_effects",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=None,
)
def order_program_effects(order_id: int) -> dict:
    """The outbox consumer of topic `order.programs`: referral rebate and trial attribution of one order."""
    return orders.programs_for_order(order_id=order_id)


@shared_task(name="campaigns.tasks_programs.confirm_due_referral_rewards")
def confirm_due_referral_rewards() -> int:
    return referral.referral_rewards_confirm_due()


@shared_task(name="campaigns.tasks_programs.expire_due_enrolments")
def expire_due_enrolments() -> int:
    return milestone.enrolments_expire_due()
